"""Review: the signed webhook, the image links, and the verdict that closes the case as a labelled pair."""

import json
import time

import pytest
import requests

from functions.messages import StepMessage
from functions.runtime.step_runner import VERIFICATIONS, run_step
from functions.runtime.webhooks import DELIVERY_HEADER, delivery_id, verify
from functions.steps.table import STEPS
from tests.helpers.receivers import Receiver


def _case_in_review(services) -> StepMessage:
    images = {
        "face": services.blobs.put("images", "verifications/v1/face.png", b"\x89PNG face bytes", "image/png"),
        "signature": services.blobs.put("images", "verifications/v1/signature.png", b"\x89PNG signature bytes", "image/png"),
    }
    chip = services.blobs.put("crops", "v1/context.png", b"\x89PNG context", "image/png")
    services.records.create(VERIFICATIONS, {
        "id": "v1", "subject_id": "alice", "device_id": "kiosk", "status": "review", "images": images,
        "steps": {
            "face-crop": {"result": {"reason": None, "crops": {"context": chip}}, "next": "antispoof"},
            "antispoof": {"result": {"label": "uncertain", "score": 0.52, "model_version": "m1",
                                     "member_scores": {"net_a": 0.3, "net_b": 0.9}}, "next": "face-match"},
            "decide": {"result": {"outcome": "review", "reasons": ["liveness_uncertain"]}, "next": "review"},
        },
        "decision": {"outcome": "review", "reasons": ["liveness_uncertain"], "by": "service"},
    })
    return StepMessage("v1", "alice", images)


@pytest.fixture
def receiver(loopback_callbacks):
    """Set before the services open, so the settings carry its URL."""
    r = Receiver()
    loopback_callbacks.setenv("BIOAUTH_REVIEW_WEBHOOK_URL", r.url)
    yield r
    r.close()


def test_webhook_is_signed_and_links_work_then_the_verdict_closes_the_case(receiver, local_host, client, embedded_services):
    services = embedded_services
    msg = _case_in_review(services)
    assert run_step(STEPS, "review", msg.to_json(), 1, services) is None

    headers, body = receiver.calls[0]
    assert verify(services.secrets.review_webhook_secret, headers, body) == delivery_id("review", "v1")
    assert headers[DELIVERY_HEADER.lower()] == delivery_id("review", "v1")
    assert verify(services.secrets.review_webhook_secret, headers, body + b" ") is None
    # The review webhook has its own secret: a device's callback secret does not sign it.
    assert verify(services.secrets.device_callback_secret("kiosk"), headers, body) is None
    payload = json.loads(body)
    assert payload["verification_id"] == "v1" and payload["reasons"] == ["liveness_uncertain"]
    assert payload["scores"]["antispoof"] == {"label": "uncertain", "score": 0.52}
    assert set(payload["images"]) == {"face", "signature", "face_context"}
    face_link = payload["images"]["face"]
    assert requests.get(face_link, timeout=10).content == b"\x89PNG face bytes"  # no function key needed: signed
    assert requests.get(face_link.replace("sig=", "sig=0"), timeout=10).status_code == 401
    assert b"face bytes" not in body  # images travel as links only

    record = services.records.get(VERIFICATIONS, "v1")
    assert record["steps"]["review"]["result"]["status"] == "delivered"
    inbox = client.get("/api/v1/reviews").json()
    assert [c["id"] for c in inbox["cases"]] == ["v1"] and inbox["cases"][0]["reasons"] == ["liveness_uncertain"]
    case = client.get("/api/v1/reviews/v1").json()
    assert requests.get(case["images"]["face"], timeout=10).content == b"\x89PNG face bytes"

    r = client.post("/api/v1/reviews/v1", json={"verdict": "accept", "note": "same person, poor light", "reviewer": "r1"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    assert r.json()["decision"]["by"] == "reviewer"
    pair = services.records.get("reviews", "v1")
    assert pair["label"] == "genuine" and pair["note"] == "same person, poor light"
    assert services.blobs.get(pair["images"]["face"]) == b"\x89PNG face bytes"
    assert client.get("/api/v1/reviews").json()["cases"] == []  # closed: no longer in the inbox
    again = client.post("/api/v1/reviews/v1", json={"verdict": "reject"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_in_review"


def test_verdict_must_be_accept_or_reject(client, embedded_services):
    _case_in_review(embedded_services)
    r = client.post("/api/v1/reviews/v1", json={"verdict": "maybe"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    assert client.post("/api/v1/reviews/nope", json={"verdict": "accept"}).status_code == 404


def test_a_reviewer_may_say_what_was_presented_and_an_attack_cannot_be_accepted(client, embedded_services):
    _case_in_review(embedded_services)
    for body in ({"verdict": "reject", "presentation": "print"}, {"verdict": "accept", "presentation": "attack"}):
        r = client.post("/api/v1/reviews/v1", json=body)
        assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "presentation", r.text
    assert embedded_services.records.get("verifications", "v1")["status"] == "review"  # refused verdicts change nothing
    r = client.post("/api/v1/reviews/v1", json={"verdict": "reject", "presentation": "attack", "note": "photo on paper"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    pair = embedded_services.records.get("reviews", "v1")
    assert (pair["label"], pair["presentation"]) == ("impostor", "attack")


def test_stale_or_altered_deliveries_are_refused():
    from functions.runtime.webhooks import signed_headers

    old = int(time.time()) - 3600
    assert verify(b"k", signed_headers(b"k", "d-1", old, b"{}"), b"{}") is None  # a replay, later
    fresh = signed_headers(b"k", "d-1", int(time.time()), b"{}")
    assert verify(b"k", fresh, b"{}") == "d-1"
    assert verify(b"k", {**fresh, DELIVERY_HEADER: "d-2"}, b"{}") is None  # the id is signed too


def test_a_case_shows_the_subjects_enrolled_references_through_signed_audited_links(local_host, embedded_services, principals, tmp_path):
    """A reviewer judging a face or signature doubt sees the person's enrolment photos and reference signatures."""
    import io

    from PIL import Image

    from functions.http.enrolment import enrol_subject
    from functions.images import check_image
    from scripts.sample_images import write_samples
    from tests.conftest import Client

    services = embedded_services
    samples = write_samples(tmp_path / "samples")
    faces = [p for p in samples if p.name.startswith("enrol-face-")]
    signatures = [p for p in samples if p.name.startswith("enrol-signature-")]
    enrol_subject("alice", [check_image(p.read_bytes(), field="face", max_pixels=10**8) for p in faces],
                  [check_image(p.read_bytes(), field="signature", max_pixels=10**8) for p in signatures], services)
    _case_in_review(services)
    reviewer = Client(local_host.url, principals["reviewer"])

    case = reviewer.get("/api/v1/reviews/v1").json()
    references = case["references"]
    assert references["face_photos_retained"] is True
    assert len(references["face"]) == len(faces) and len(references["signature"]) == len(signatures)
    # The face photos come back exactly as enrolled; the signature canvases as images.
    assert requests.get(references["face"][0], timeout=10).content == faces[0].read_bytes()
    canvas = requests.get(references["signature"][1], timeout=10)
    assert canvas.headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(canvas.content)).size[0] > 100
    assert requests.get(references["face"][0].replace("sig=", "sig=0"), timeout=10).status_code == 401
    assert requests.get(references["face"][0].replace("by=dana", "by=olivia"), timeout=10).status_code == 401

    viewed = [e for e in services.audit.query(subject_id="alice") if e.action == "reference.viewed"]
    assert [(e.actor_id, e.verification_id, e.details) for e in viewed] == [
        ("dana", "v1", {"kind": "face", "index": 0}), ("dana", "v1", {"kind": "signature", "index": 1})]
    assert all(e.actor_key_id == "signed-link" for e in viewed)  # every audit event names the credential that acted
    assert reviewer.post("/api/v1/reviews/v1", json={"verdict": "accept"}).status_code == 200
    assert requests.get(references["face"][0], timeout=10).status_code == 404  # the case closed: its links stop
