"""A case closes once: the verdict, its labelled pair and its audit event are one conditional write; a verdict racing
an erasure answers 404 or 409, never 500; the device is called back when the case closes, and when the review
webhook fails for good."""

import json

import pytest

from functions.errors import BioauthError, Conflict, VerificationNotFound
from functions.http.routes import close_review
from functions.runtime.step_runner import VERIFICATIONS, run_step
from functions.runtime.subjects import erase_subject
from functions.runtime.webhooks import delivery_id, verify
from functions.steps.table import STEPS
from functions.storage.api_keys import Principal
from tests.helpers.receivers import Receiver

ANN = Principal(id="ann", role="reviewer", name="Ann", key_id="k-ann")
BOB = Principal(id="bob", role="reviewer", name="Bob", key_id="k-bob")


def _case(services, vid="v1", callback_url=None) -> dict:
    images = {
        "face": services.blobs.put("images", f"verifications/{vid}/face.png", b"\x89PNG face", "image/png"),
        "signature": services.blobs.put("images", f"verifications/{vid}/signature.png", b"\x89PNG sig", "image/png"),
    }
    services.records.upsert("subjects", {"id": "alice"})
    return services.records.create(VERIFICATIONS, {
        "id": vid, "subject_id": "alice", "device_id": "door-7", "status": "review", "images": images,
        "callback_url": callback_url,
        "steps": {"decide": {"result": {"outcome": "review", "reasons": ["face_uncertain"]}, "next": "review"}},
        "decision": {"outcome": "review", "reasons": ["face_uncertain"], "by": "service"},
    })


def _verdicts(services, vid="v1"):
    return [e for e in services.audit.query(limit=100) if e.action == "review.verdict" and e.verification_id == vid]


def test_of_two_reviewers_racing_only_the_winners_verdict_is_labelled_and_audited(embedded_services):
    services = embedded_services
    opened_by_ann = _case(services)  # both opened the case while it was waiting
    opened_by_bob = services.records.get(VERIFICATIONS, "v1")
    close_review(opened_by_bob, "reject", "not the same person", BOB, services)
    with pytest.raises(Conflict) as lost:
        close_review(opened_by_ann, "accept", "looks fine", ANN, services)
    assert lost.value.http_status == 409 and lost.value.code == "not_in_review"
    pair = services.records.get("reviews", "v1")
    assert (pair["label"], pair["reviewer_id"], pair["verdict"]) == ("impostor", "bob", "reject")
    assert services.records.get(VERIFICATIONS, "v1")["review"]["reviewer_id"] == "bob"
    assert [(e.actor_id, e.details["verdict"]) for e in _verdicts(services)] == [("bob", "reject")]
    folders = {ref.split("/")[2] for ref in pair["images"].values()}
    assert len(folders) == 1  # the winner's copies; the loser's were removed
    root = services.settings.data_dir / "blobs" / "reviews" / "v1"
    assert sorted(p.name for p in root.iterdir()) == sorted(folders)


def test_a_verdict_on_a_case_erased_meanwhile_answers_404_not_500(embedded_services):
    services = embedded_services
    opened = _case(services)
    assert erase_subject("alice", services, STEPS.queues)
    with pytest.raises(VerificationNotFound) as gone:
        close_review(opened, "accept", "", ANN, services)
    assert gone.value.http_status == 404
    assert services.records.get("reviews", "v1") is None and _verdicts(services) == []
    assert not list((services.settings.data_dir / "blobs" / "reviews").rglob("*.png"))


def test_a_verdict_whose_images_went_while_the_record_stayed_answers_409(embedded_services):
    services = embedded_services
    opened = _case(services)
    services.blobs.delete_prefix("images", "verifications/v1/")  # erasure half done: images first, record next
    with pytest.raises(BioauthError) as refused:
        close_review(opened, "accept", "", ANN, services)
    assert refused.value.http_status == 409
    assert services.records.get(VERIFICATIONS, "v1")["status"] == "review"


def test_the_device_is_called_back_again_when_the_case_closes(loopback_callbacks, embedded_services):
    services = embedded_services
    receiver = Receiver()
    try:
        opened = _case(services, callback_url=receiver.url)
        message = json.dumps({"verification_id": "v1", "subject_id": "alice"})
        assert run_step(STEPS, "notify", message, 1, services) is None  # the device learns `review`
        close_review(opened, "accept", "", ANN, services)
        assert services.queues.count("notify") == 1  # the verdict's callback is queued
        assert run_step(STEPS, "notify", message, 1, services) is None
        assert len(receiver.calls) == 2
        secret = services.secrets.device_callback_secret("door-7")
        (h1, b1), (h2, b2) = receiver.calls
        assert json.loads(b1)["status"] == "review" and verify(secret, h1, b1) == delivery_id("callback", "v1")
        second = json.loads(b2)
        assert second["status"] == "accepted" and second["decision"]["by"] == "reviewer"
        assert verify(secret, h2, b2) == delivery_id("callback-verdict", "v1")  # not dropped as a duplicate
    finally:
        receiver.close()


def test_a_review_webhook_that_fails_for_good_still_calls_the_device_back(loopback_callbacks, embedded_services):
    services = embedded_services
    hook, device = Receiver(statuses=(503,)), Receiver()
    try:
        services.settings = services.settings.__class__(**{**services.settings.__dict__, "review_webhook_url": hook.url})
        _case(services, callback_url=device.url)
        message = json.dumps({"verification_id": "v1", "subject_id": "alice"})
        with pytest.raises(Exception):
            run_step(STEPS, "review", message, services.settings.max_dequeue_count, services)  # the last try
        record = services.records.get(VERIFICATIONS, "v1")
        assert record["status"] == "review" and record["step_failures"][0]["step"] == "review"
        assert services.queues.count("notify") == 1
        run_step(STEPS, "notify", message, 1, services)
        assert [json.loads(b)["status"] for _, b in device.calls] == ["review"]
    finally:
        hook.close()
        device.close()
