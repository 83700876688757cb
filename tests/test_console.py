"""The review console: its Node tests, its static files on the local host, and its API client against the real API."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FUNCTION_KEY
from tests.test_review import _case_in_review

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the console's logic is tested with node --test)")
JS_TYPES = {"text/javascript", "application/javascript"}


@needs_node
def test_console_node_tests_pass():
    run = subprocess.run([NODE, "--test", "console/tests/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", run.stdout, re.M), run.stdout[-2000:]
    assert re.search(r"^# fail 0$", run.stdout, re.M), run.stdout[-2000:]


def _raw_get(host, path: str) -> tuple[int, str, bytes]:
    """GET with the path sent exactly as written (no client-side '..' clean-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def test_local_host_serves_the_console_with_the_right_types(local_host):
    status, kind, body = _raw_get(local_host, "/console/")
    assert status == 200 and kind.startswith("text/html")
    assert b'<script type="module" src="app.js">' in body
    for path, types in (("/console/index.html", {"text/html"}), ("/console/app.js", JS_TYPES),
                        ("/console/lib.js", JS_TYPES), ("/console/style.css", {"text/css"})):
        status, kind, body = _raw_get(local_host, path)
        assert status == 200, path
        assert kind.split(";")[0] in types, (path, kind)  # module scripts load only with a JavaScript type
        assert body == (CONSOLE / path.rsplit("/", 1)[1]).read_bytes()
    status, _, _ = _raw_get(local_host, "/console")
    assert status in (200, 301, 302, 308)


@pytest.mark.parametrize("path", [
    "/console/../function_app.py",
    "/console/../../etc/passwd",
    "/console/%2e%2e/function_app.py",
    "/console/..%2ffunction_app.py",
    "/console/tests/../../local_host.py",
    "/console/nothing-here.js",
])
def test_paths_outside_the_console_are_refused(local_host, path):
    status, _, body = _raw_get(local_host, path)
    assert status == 404, path
    assert b"import" not in body and b"root:" not in body


def test_console_pages_fetch_nothing_from_elsewhere_and_never_write_html():
    html = (CONSOLE / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html), "the console loads nothing from another origin"
    assert "Content-Security-Policy" in html and "script-src 'self'" in html
    for name in ("app.js", "lib.js"):
        code = re.sub(r"/\*.*?\*/", "", (CONSOLE / name).read_text(), flags=re.S)  # comments may name what is avoided
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage"):
            assert risky not in code, f"{name} uses {risky}"
        for spec in re.findall(r'from\s+"([^"]+)"', code):
            assert spec.startswith("./"), f"{name} imports {spec} from outside the console"


NODE_CLIENT = """
import { buildVerdictRequest, checkReviewer, createApiClient, imageSlots, summariseSteps } from "./console/lib.js";
const [base, key, deviceKey, functionKey] = process.argv.slice(1);
const api = createApiClient({ fetch, getKey: () => key, baseUrl: base });
const out = {};
out.signed_in = checkReviewer(await api.whoami());
out.device = checkReviewer(await createApiClient({ fetch, getKey: () => deviceKey, baseUrl: base }).whoami()).ok;
const device = await createApiClient({ fetch, getKey: () => deviceKey, baseUrl: base }).listCases().catch((e) => e);
out.device_inbox = [device.status, device.code];
const bootstrap = await createApiClient({ fetch, getKey: () => functionKey, baseUrl: base }).listCases().catch((e) => e);
out.bootstrap = [bootstrap.status, bootstrap.code];
out.inbox = await api.listCases(50);
const view = await api.getCase(out.inbox.cases[0].id);
out.status = view.status;
out.slots = imageSlots(view.images).map((s) => s.key);
out.steps = summariseSteps(view.steps).map((s) => [s.name, Object.fromEntries(s.figures.map((f) => [f.label, f.value]))]);
const picture = await fetch(view.images.face);
out.face_status = picture.status;
out.face_bytes = (await picture.text()).length;
const bad = await createApiClient({ fetch, getKey: () => "wrong", baseUrl: base }).listCases().catch((e) => e);
out.bad_key = [bad.status, bad.code];
const body = { ...buildVerdictRequest({ verdict: "reject", note: "not the same person" }).body, reviewer: "Mallory" };
out.closed = (await api.postVerdict(view.id, body)).status;
const again = await api.postVerdict(view.id, body).catch((e) => e);
out.again = [again.status, again.code];
out.after = (await api.listCases(50)).count;
console.log(JSON.stringify(out));
"""


@needs_node
def test_console_client_against_the_local_host(local_host, embedded_services, principals):
    """The console's own API client (lib.js, run by Node) through a whole review with a reviewer's key:
    sign-in, inbox, case, images, verdict, 409; a device's key and the bare function key are refused."""
    _case_in_review(embedded_services)
    run = subprocess.run([NODE, "--input-type=module", "-e", NODE_CLIENT, local_host.url, principals["reviewer"],
                          principals["kiosk-1"], FUNCTION_KEY],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["signed_in"] == {"ok": True, "name": "Dana"}
    assert out["device"] is False and out["device_inbox"] == [403, "forbidden_role"]
    assert out["bootstrap"] == [401, "malformed_credential"]  # the console signs in with a reviewer's key only
    assert out["inbox"]["count"] == 1 and out["inbox"]["cases"][0]["reasons"] == ["liveness_uncertain"]
    assert out["status"] == "review"
    assert out["slots"] == ["face", "face_context", "signature"]
    steps = dict(out["steps"])
    assert steps["antispoof"]["Result"] == "uncertain" and steps["antispoof"]["Probability of live"] == "0.520"
    assert steps["antispoof"]["Each network"] == "net_a 0.300 · net_b 0.900" and steps["antispoof"]["Model"] == "m1"
    assert steps["decide"]["Reasons"] == "Liveness uncertain"
    assert out["face_status"] == 200 and out["face_bytes"] > 0
    assert out["bad_key"] == [401, "malformed_credential"]
    assert out["closed"] == "rejected"
    assert out["again"] == [409, "not_in_review"]
    assert out["after"] == 0
    record = embedded_services.records.get("reviews", "v1")
    # The name comes from the key: "Mallory" in the body is ignored.
    assert record["verdict"] == "reject" and record["reviewer"] == "Dana" and record["note"] == "not the same person"
