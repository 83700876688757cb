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

