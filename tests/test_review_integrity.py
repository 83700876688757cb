"""A case closes once: the verdict, its labelled pair and its audit event are one conditional write; a verdict racing
an erasure answers 404 or 409, never 500."""

import pytest

from functions.errors import BioauthError, Conflict, VerificationNotFound
from functions.http.routes import close_review
from functions.runtime.step_runner import VERIFICATIONS
from functions.runtime.subjects import erase_subject
from functions.steps.table import STEPS
from functions.storage.api_keys import Principal

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
