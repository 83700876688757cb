"""Whether a failing step is tried again is decided by the error's kind, not by its HTTP status.

A deterministic error (the same input fails the same way: InvalidContextCrop, a 500) ends the request on the
first try; a transient one (storage not taking writes) goes back to the queue until the last allowed try.
"""

from __future__ import annotations

import pytest

from functions.biometrics.liveness import InvalidContextCrop
from functions.errors import STEP_ERROR, BioauthError, InvalidImage, ModelNotInstalled, ServiceUnavailable, StepFailed
from functions.messages import StepMessage
from functions.runtime.step_runner import VERIFICATIONS, Step, StepTable, run_step


def _deliver_until_done(services, error: BioauthError) -> tuple[int, dict]:
    """Deliver one message as the queue would (dequeue count 1, 2, ...) to a step that always raises `error`.

    Returns how many times the step ran, and the record afterwards.
    """
    calls = []

    def failing_step(ctx):
        calls.append(ctx.message.verification_id)
        raise error

    vid = f"v-{type(error).__name__}"
    services.records.create(VERIFICATIONS, {"id": vid, "subject_id": "alice", "status": "queued", "steps": {}})
    table = StepTable((Step("antispoof", "antispoof", {}, failing_step),))
    message = StepMessage(vid, "alice").to_json()
    for dequeue_count in range(1, services.settings.max_dequeue_count + 1):
        try:
            run_step(table, "antispoof", message, dequeue_count, services)
        except BioauthError:
            continue  # the message goes back on the queue
        break  # handled: the message is deleted
    return len(calls), services.records.get(VERIFICATIONS, vid)


def test_a_deterministic_error_fails_the_request_on_the_first_try(embedded_services):
    assert InvalidContextCrop.http_status >= 500  # its status once made the runner try it five times
    runs, record = _deliver_until_done(embedded_services, InvalidContextCrop("the context crop is empty"))
    assert runs == 1
    assert record["status"] == "failed"
    assert record["failure"]["code"] == "invalid_context_crop"


@pytest.mark.parametrize("error", [ModelNotInstalled("no antispoof model"), StepFailed("broken record"),
                                   InvalidImage("not an image")], ids=lambda e: type(e).__name__)
def test_other_permanent_errors_fail_on_the_first_try_too(embedded_services, error):
    runs, record = _deliver_until_done(embedded_services, error)
    assert (runs, record["failure"]["code"]) == (1, error.code)


def test_a_transient_error_is_tried_again_until_the_last_allowed_try(embedded_services):
    limit = embedded_services.settings.max_dequeue_count
    assert limit > 1
    runs, record = _deliver_until_done(embedded_services, ServiceUnavailable("storage is not taking writes"))
    assert runs == limit
    assert record["status"] == "failed"
    assert record["failure"]["code"] == STEP_ERROR



def test_a_template_this_key_cannot_open_fails_at_once_with_a_named_code(client, embedded_services, astronaut):
    """Enrolled under one template key, verified under another: no try will open it, so the first one says so."""
    import dataclasses
    import os

    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature
    from tests.test_e2e import _attempt, _enrol

    assert _enrol(client, astronaut).status_code == 201
    embedded_services.secrets = dataclasses.replace(embedded_services.secrets, template_key=os.urandom(32))
    r = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 4), make_signature(7, 9)))
    failure = r.json()["failure"]
    assert (r.json()["status"], failure["code"]) == ("failed", "template_unreadable")
    assert "another key" in failure["message"] and "tries" not in failure["message"]


def test_a_missing_image_fails_at_once_with_a_named_code(embedded_services):
    from functions.steps.table import STEPS

    services = embedded_services
    images = {"face": "images/verifications/gone/face.jpg", "signature": "images/verifications/gone/signature.png"}
    services.records.create(VERIFICATIONS, {"id": "gone", "subject_id": "alice", "status": "queued", "steps": {},
                                            "images": images})
    # The first try, with four more allowed: it does not raise (no retry), it fails the request.
    assert run_step(STEPS, "face-crop", StepMessage("gone", "alice", images).to_json(), 1, services) is None
    failure = services.records.get(VERIFICATIONS, "gone")["failure"]
    assert failure["code"] == "blob_missing" and "images/verifications/gone/face.jpg" in failure["message"]
    assert "BIOAUTH_STORAGE" in failure["message"]


def test_an_image_stored_under_another_key_fails_at_once_with_a_named_code(embedded_services):
    import os

    from functions.steps.table import STEPS
    from functions.storage.encrypted import EncryptedBlobStore

    services = embedded_services
    other = EncryptedBlobStore(services.blobs.inner, os.urandom(32))
    images = {name: other.put("images", f"verifications/other/{name}.png", b"\x89PNG...", "image/png")
              for name in ("face", "signature")}
    services.records.create(VERIFICATIONS, {"id": "other", "subject_id": "alice", "status": "queued", "steps": {},
                                            "images": images})
    assert run_step(STEPS, "face-crop", StepMessage("other", "alice", images).to_json(), 1, services) is None
    failure = services.records.get(VERIFICATIONS, "other")["failure"]
    assert failure["code"] == "template_unreadable" and "another key" in failure["message"]
