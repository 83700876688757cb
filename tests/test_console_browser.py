"""The review console in a real headless browser (Playwright driving the system Chromium) against the real local
host: a real verification in review, listed, opened with its images, and closed by a verdict given in the page.

The screenshot of the open case is written to test-output/review-console-case.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bioauth_client import BioauthClient

from tests.conftest import start_host

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("BIOAUTH_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = ROOT / "test-output" / "review-console-case.png"


def _browser_or_skip() -> str:
    missing = []
    node = shutil.which("node")
    if node is None:
        missing.append("node")
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci)")
    if missing:
        message = "the browser test needs " + ", ".join(missing)
        if os.environ.get("BIOAUTH_REQUIRE_BROWSER"):
            pytest.fail(message + "; BIOAUTH_REQUIRE_BROWSER is set")
        pytest.skip(message)
    return node


@pytest.fixture
def host_with_a_case_in_review(settings_env, tmp_path):
    """A verification of the enrolled person that is certain to go to review: the face review band is widened
    (BIOAUTH_FACE_REVIEW_MARGIN) so her close match lands in it, and every check must be in its own accept zone
    (BIOAUTH_DECISION_POLICY=all), whatever the other models say."""
    from functions.runtime.services import get_services
    from scripts.sample_images import write_samples

    settings_env.setenv("BIOAUTH_FACE_REVIEW_MARGIN", "1.0")
    settings_env.setenv("BIOAUTH_DECISION_POLICY", "all")  # under the fused policy a strong signature outweighs it
    services = get_services()
    keys = {role: services.credentials.issue(role, principal, name=name, created_by="test").token
            for role, principal, name in (("operator", "olivia", "Olivia"), ("device", "browser-test-kiosk", None),
                                          ("reviewer", "rita", "Rita Reviewer"))}
    host = start_host(services, lease_seconds=30)
    samples = tmp_path / "samples"
    write_samples(samples)
    url = f"{host.url}/api"
    BioauthClient(url, keys["operator"]).enrol("astronaut", sorted(samples.glob("enrol-face-*.jpg")),
                                               sorted(samples.glob("enrol-signature-*.png")))
    device = BioauthClient(url, keys["device"])
    case = device.verify("astronaut", samples / "attempt-face.jpg", samples / "attempt-signature.png", sync=True)
    assert case.status == "review" and "face_uncertain" in case.reasons
    yield host, keys, device, case
    host.stop()


def test_a_reviewer_lists_opens_sees_and_closes_a_case_in_a_real_browser(host_with_a_case_in_review):
    node = _browser_or_skip()
    host, keys, device, case = host_with_a_case_in_review
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    run = subprocess.run([node, str(ROOT / "tests" / "browser" / "review_console.mjs"), host.url, keys["reviewer"], case.id,
                          str(SCREENSHOT), CHROMIUM], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    assert seen["pageErrors"] == [] and seen["failedRequests"] == []
    assert "Rita Reviewer" in seen["signedInAs"]
    assert seen["inboxCount"] >= 1
    assert "astronaut" in seen["caseTitle"]
    assert len(seen["reasons"]) >= 1
    loaded = {image["alt"]: image for image in seen["images"]}
    assert len(loaded) >= 3 and all(image["width"] > 0 for image in loaded.values())  # face, signature, crops
    references = [image for image in seen["references"] if image["width"] > 0]
    assert sum("Enrolled face" in i["alt"] for i in references) == 3  # the three enrolment photos
    assert sum("Reference signature" in i["alt"] for i in references) == 4  # the four reference canvases
    assert seen["verdictInViewAtTop"] and seen["verdictInViewAtEnd"]  # no scrolling to reach the verdict
    assert seen["shortcutConfirm"] == "Confirm accept"  # the A key
    assert "accepted" in seen["flash"]
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 20_000

    closed = device.status(case.id)
    assert (closed.status, closed.reasons[-1]) == ("accepted", "reviewer_accept")
    assert closed.raw["review"] == {**closed.raw["review"], "presentation": "bona_fide", "note": "Same person; live."}
    assert "rita" in json.dumps(closed.raw["review"])  # the key named the reviewer
