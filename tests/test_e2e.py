"""End to end through real HTTP on localhost: the local host runs the real function_app on the embedded
default and on Azurite (Blob + Queue; records in SQLite)."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Client, png_b64, start_host
from tests.helpers.api_schema import assert_conforms


@pytest.fixture(params=["embedded", pytest.param("azurite", marks=pytest.mark.azurite)])
def backend(request):
    services = request.getfixturevalue("embedded_services" if request.param == "embedded" else "azurite_services")
    host = start_host(services, lease_seconds=30)
    yield services, Client(host.url)
    host.stop()


def test_a_photo_without_a_face_is_rejected_with_its_reason_async_and_sync(backend):
    services, client = backend
    services.records.upsert("subjects", {"id": "carol"})
    blank = np.full((240, 320, 3), 200, np.uint8)
    body = {"subject_id": "carol", "device_id": "t", "face_image": png_b64(blank), "signature_image": png_b64(blank)}
    r = client.post("/api/v1/verifications", json=body)
    assert r.status_code == 202 and r.headers["Location"].endswith(r.json()["id"])
    final = client.wait_terminal(r.headers["Location"])
    assert (final["status"], final["decision"]["reasons"]) == ("rejected", ["no_face"])
    assert final["steps"]["face-crop"]["duration_ms"] > 0
    assert_conforms(final, "Verification")  # every field the steps record is named in the API description
    sync = client.post("/api/v1/verifications?mode=sync", json=body)
    assert sync.status_code == 200 and sync.json()["status"] == "rejected"
    assert_conforms(sync.json(), "Verification")
    # The stored entries say where each step ran: a queue runner, or the synchronous API on its one and only try.
    ran = {v["id"]: services.records.get("verifications", v["id"])["steps"]["face-crop"] for v in (final, sync.json())}
    assert (ran[final["id"]]["runner"], ran[final["id"]]["attempt"]) == ("queue", 1)
    assert (ran[sync.json()["id"]]["runner"], ran[sync.json()["id"]]["attempt"]) == ("sync", 1)
    health = client.get("/api/v1/health").json()
    assert health["storage"]["queues"] == ("sqlite" if services.queues.backend == "sqlite" else "azure-queue")


def _enrol(client, person, subject="astronaut"):
    from tests.conftest import jpeg_b64
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    return client.post(f"/api/v1/subjects/{subject}/enrolment", json={
        "face_images": [jpeg_b64(capture(person, s)) for s in (1, 2, 3)],
        "signature_images": [png_b64(make_signature(7, s)) for s in range(4)],
    })


def _attempt(face, signature, subject="astronaut"):
    from tests.conftest import jpeg_b64

    return {"subject_id": subject, "device_id": "e2e", "face_image": jpeg_b64(face), "signature_image": png_b64(signature)}


@pytest.fixture
def accept_path_models(settings_env, tmp_path):
    """The real face model with always-live and always-genuine test fixtures (tests/fixtures/models.py)."""
    from tests.fixtures.models import models_for_the_accept_path

    settings_env.setenv("BIOAUTH_MODELS_DIR", str(models_for_the_accept_path(tmp_path / "models")))


def test_enrol_then_the_genuine_person_is_accepted_and_an_impostor_rejected(accept_path_models, backend, astronaut, grace_hopper):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_forgery, make_signature

    services, client = backend
    r = _enrol(client, astronaut)
    assert r.status_code == 201, r.text
    assert r.json()["faces"] == 3 and r.json()["signatures"] == 4

    genuine = client.post("/api/v1/verifications", json=_attempt(capture(astronaut, 11), make_signature(7, 11)))
    assert genuine.status_code == 202
    final = client.wait_terminal(genuine.headers["Location"])
    assert final["status"] == "accepted", final
    assert list(final["steps"]) == ["face-crop", "antispoof", "face-match", "signature", "decide"]
    assert final["steps"]["face-match"]["result"]["band"] == "accept"
    assert set(final["steps"]["face-match"]["result"]["member_scores"]) == {"face_sface", "face_edgeface"}

    impostor = client.post("/api/v1/verifications", json=_attempt(grace_hopper, make_forgery(7, 1)))
    final = client.wait_terminal(impostor.headers["Location"])
    assert final["status"] == "rejected" and "face_mismatch" in final["decision"]["reasons"], final

    sync = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 12), make_signature(7, 12)))
    assert sync.status_code == 200 and sync.json()["status"] == "accepted", sync.json()


@pytest.fixture
def shipped_signature_model(settings_env, tmp_path):
    """The shipped face and signature models (the signature one normalises by its cohort); liveness is not used here."""
    from tests.fixtures.models import models_with_an_always_spoof_detector

    settings_env.setenv("BIOAUTH_MODELS_DIR", str(models_with_an_always_spoof_detector(tmp_path / "models")))


def test_renewal_rebuilds_a_stored_writer_model_of_the_previous_format(shipped_signature_model, embedded_services, client, astronaut):
    """A writer model stored before cohort statistics (format 1) is replaced by renewal with one of the current format."""
    from functions.biometrics.signature_verification import WRITER_MODEL_FORMAT, WriterModel
    from functions.runtime.subjects import load_signature_writer_model, store_signature_writer_model

    assert _enrol(client, astronaut).status_code == 201
    subject = embedded_services.records.get("subjects", "astronaut")
    enrolled = WriterModel.decode(load_signature_writer_model(subject, embedded_services))
    assert enrolled.format == WRITER_MODEL_FORMAT and np.any(enrolled.reference_mean != 0)
    old = io.BytesIO()  # what format 1 stored: features, spread and SVM only
    np.savez_compressed(old, model_sha256=np.array(enrolled.model_sha256), features=enrolled.features.astype(np.float32),
                        spread=np.array(enrolled.spread), svm=enrolled.svm)
    store_signature_writer_model("astronaut", old.getvalue(), embedded_services)
    assert WriterModel.decode(load_signature_writer_model(subject, embedded_services)).format == 1

    assert client.post("/api/v1/subjects/astronaut/renewal").status_code == 200
    rebuilt = WriterModel.decode(load_signature_writer_model(embedded_services.records.get("subjects", "astronaut"), embedded_services))
    assert rebuilt.format == WRITER_MODEL_FORMAT and rebuilt.model_sha256 == enrolled.model_sha256
    assert np.allclose(rebuilt.cohort_mean, enrolled.cohort_mean) and np.allclose(rebuilt.reference_mean, enrolled.reference_mean)


def test_renewal_cancels_the_template_and_erasure_forgets_the_subject(accept_path_models, embedded_services, client, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).status_code == 201
    before = embedded_services.records.get("subjects", "astronaut")
    current_signature_model = before["signature"]["model_sha256"]
    stale = {k: v for k, v in before.items() if k != "_etag"}
    stale["signature"] = {**before["signature"], "model_sha256": "an older signature model"}
    embedded_services.records.upsert("subjects", stale)
    renewed = client.post("/api/v1/subjects/astronaut/renewal")
    assert renewed.status_code == 200, renewed.text
    after = embedded_services.records.get("subjects", "astronaut")
    assert after["token"] != before["token"] and after["face"]["templates"] != before["face"]["templates"]
    assert after["signature"]["model_sha256"] == current_signature_model  # writer model rebuilt with the current model
    again = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 13), make_signature(7, 13)))
    assert again.json()["status"] == "accepted", again.json()

    assert client.delete("/api/v1/subjects/astronaut").status_code == 204
    assert embedded_services.records.get("subjects", "astronaut") is None
    assert client.post("/api/v1/subjects/astronaut/renewal").json()["error"]["code"] == "unknown_subject"
    late = client.post("/api/v1/verifications", json=_attempt(capture(astronaut, 14), make_signature(7, 14)))
    assert (late.status_code, late.json()["error"]["code"]) == (404, "unknown_subject")

    # The audit trail kept what happened, under a pseudonym once the subject was erased.
    from functions.storage.audit import pseudonym, pseudonym_key

    assert embedded_services.audit.query(subject_id="astronaut") == []
    trail = embedded_services.audit.query(subject_id=pseudonym("astronaut", pseudonym_key(embedded_services.secrets)))
    assert [e.action for e in trail] == ["subject.enrolled", "subject.renewed", "verification.created",
                                         "verification.decided", "subject.erased"]
    assert trail[0].details["face_model_version"] and trail[3].details["models"]["face-match"]
    assert {e.actor_role for e in trail} == {"admin", "service"}  # the local bootstrap key, and the decide step


def test_with_every_shipped_model_the_decision_follows_the_policy(client, embedded_services, astronaut):
    """All real models: whatever each step says, the decision is the policy applied to what was recorded."""
    from functions.biometrics.decision import decide
    from functions.steps.decide import policy_thresholds
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).status_code == 201
    r = client.post("/api/v1/verifications", json=_attempt(capture(astronaut, 21), make_signature(7, 21)))
    final = client.wait_terminal(r.headers["Location"])
    assert_conforms(final, "Verification")  # every field each real model's step records is named in the API description
    results = {step: entry["result"] for step, entry in final["steps"].items()}
    s = embedded_services.settings
    expected = decide(results, face_review_margin=s.face_review_margin, spoof_action=s.spoof_action,
                      policy=s.decision_policy, thresholds=policy_thresholds(s.models_dir))
    assert (final["status"], final["decision"]["reasons"]) == (expected.outcome, expected.reasons)
    # the answer explains itself: the policy that decided, each check's LLR, their sum, the thresholds
    assert final["decision"]["explanation"] == expected.explanation
    assert final["decision"]["explanation"]["policy"] == s.decision_policy == "fused"
    health = client.get("/api/v1/health").json()
    shipped = {m["name"]: m["version"] for m in health["models"]}
    assert results["antispoof"]["model_version"] == shipped["antispoof"]
    if results["antispoof"]["label"] != "spoof":
        assert results["face-match"]["band"] == "accept"


@pytest.fixture
def sharpness_and_pose_limits_set_aside(settings_env, tmp_path):
    """Every shipped model, with the capture-quality check's sharpness and pose limits set aside
    (tests/fixtures/models.py): the simulated recaptures are soft and turned enough to be sent back for a retake
    (tests/test_capture_quality.py), and these tests are about the anti-spoofing ensemble behind that check."""
    from tests.fixtures.models import models_with_quality_limits

    folder = models_with_quality_limits(tmp_path / "models", min_sharpness=0.0, max_yaw_deg=90.0, max_pitch_deg=90.0, max_roll_deg=90.0)
    settings_env.setenv("BIOAUTH_MODELS_DIR", str(folder))


@pytest.mark.parametrize("attack", ["print", "screen"])
def test_simulated_attacks_are_rejected_by_the_shipped_antispoof_model(sharpness_and_pose_limits_set_aside, client, embedded_services, astronaut, attack):
    """A printed photo and a phone-screen replay of the enrolled person: the ensemble calls both a clear spoof."""
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    assert _enrol(client, astronaut).status_code == 201
    face = {"print": make_print_attack(capture(astronaut, 12), seed=3), "screen": make_screen_replay(capture(astronaut, 12), seed=0)}[attack]
    final = client.post("/api/v1/verifications?mode=sync", json=_attempt(face, make_signature(7, 12))).json()
    spoof = final["steps"]["antispoof"]["result"]
    assert spoof["label"] == "spoof" and set(spoof["member_scores"]) == {"minifasnet_v2_x2.7", "minifasnet_v1se_x4.0"}, final
    assert (final["status"], final["decision"]["reasons"]) == ("rejected", ["spoof_detected"]), final
    health = client.get("/api/v1/health").json()
    assert spoof["model_version"] == {m["name"]: m["version"] for m in health["models"]}["antispoof"]


def test_the_live_person_passes_the_shipped_antispoof_model(client, embedded_services, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).status_code == 201
    final = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 11), make_signature(7, 11))).json()
    assert final["steps"]["antispoof"]["result"]["label"] == "live", final
    assert "face-match" in final["steps"], final

    # What the models read is stored losslessly; the reviewers' context crop as JPEG.
    crops = final["steps"]["face-crop"]["result"]["crops"]
    assert set(crops) == {"chip", "context", "antispoof_minifasnet_v2_x2.7", "antispoof_minifasnet_v1se_x4.0"}
    for name, ref in crops.items():
        stored = Image.open(io.BytesIO(embedded_services.blobs.get(ref)))
        assert stored.format == ("JPEG" if name == "context" else "PNG"), (name, ref)


@pytest.fixture
def always_spoof_models(settings_env, tmp_path):
    """The shipped face and signature models with an always-spoof anti-spoofing fixture (tests/fixtures/models.py)."""
    from tests.fixtures.models import models_with_an_always_spoof_detector

    settings_env.setenv("BIOAUTH_MODELS_DIR", str(models_with_an_always_spoof_detector(tmp_path / "models")))


def test_a_spoof_verdict_rejects_at_once_and_ends_the_chain(always_spoof_models, client, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).status_code == 201
    final = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 12), make_signature(7, 12))).json()
    assert (final["status"], final["decision"]["reasons"]) == ("rejected", ["spoof_detected"]), final
    assert list(final["steps"]) == ["face-crop", "antispoof", "decide"]  # the chain ended early


def test_with_spoof_action_review_a_spoof_verdict_goes_to_a_person_with_the_whole_chain_run(always_spoof_models, settings_env, astronaut):
    from tests.conftest import Client, start_host
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    settings_env.setenv("BIOAUTH_SPOOF_ACTION", "review")
    from functions.runtime.services import get_services

    host = start_host(get_services(), lease_seconds=30)
    try:
        client = Client(host.url)
        assert _enrol(client, astronaut).status_code == 201
        final = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 12), make_signature(7, 12))).json()
        assert final["status"] == "review" and "spoof_suspected" in final["decision"]["reasons"], final
        # The review step runs after the decision; the sync answer may be read before or after it has run.
        assert [s for s in final["steps"] if s != "review"] == ["face-crop", "antispoof", "face-match", "signature", "decide"]
        case = client.get(f"/api/v1/reviews/{final['id']}").json()
        assert_conforms(case, "ReviewCase")
        closed = client.post(f"/api/v1/reviews/{final['id']}", json={"verdict": "reject", "presentation": "attack"}).json()
        assert closed["status"] == "rejected", closed
        assert_conforms(closed, "Verification")
    finally:
        host.stop()


FUSED_TEMPLATE = "face_sface/1.0.0+face_edgeface/1.0.0"


def test_a_template_of_another_face_model_is_refused_until_renewed(accept_path_models, embedded_services, client, astronaut):
    """Embeddings of two models are not comparable: the request gets `template_outdated`; renewal re-enrols."""
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).json()["face_model"] == FUSED_TEMPLATE
    subject = embedded_services.records.get("subjects", "astronaut")
    subject.pop("_etag", None)
    subject["face"].pop("model")  # as enrolled before templates named their model: the first face model's 1.0.0
    embedded_services.records.upsert("subjects", subject)

    refused = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 15), make_signature(7, 15)))
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "template_outdated" and error["details"]["template_model"] == "face_embedding/1.0.0"
    assert "astronaut" not in error["message"]

    renewed = client.post("/api/v1/subjects/astronaut/renewal")
    assert renewed.status_code == 200 and renewed.json()["face_model"] == FUSED_TEMPLATE
    again = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 16), make_signature(7, 16)))
    assert again.status_code == 200 and again.json()["status"] == "accepted", again.json()


def test_a_single_embedding_template_is_refused_and_renewed_to_the_two_embedding_version(accept_path_models, embedded_services,
                                                                                        client, astronaut):
    """A version-1 template (SFace's embeddings only) cannot give the fused score: `template_outdated` until renewal,
    which rebuilds it from the retained images with both networks."""
    from functions.runtime.subjects import FACE_TEMPLATE_VERSION, load_face_template, protected_face
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    assert _enrol(client, astronaut).status_code == 201
    subject = embedded_services.records.get("subjects", "astronaut")
    current = load_face_template(subject, embedded_services)
    assert subject["face"]["template_version"] == FACE_TEMPLATE_VERSION == 2 and current.model == FUSED_TEMPLATE
    assert {k: len(v) for k, v in current.references.items()} == {"face_sface": 3, "face_edgeface": 3}
    # As the service wrote it before the fusion: SFace's protected embeddings only, no members, no template version.
    single = protected_face("astronaut", {"face_sface": current.references["face_sface"]}, "face_sface/1.0.0", embedded_services)
    for key in ("members", "template_version"):
        single["face"].pop(key)
    subject.pop("_etag", None)
    subject.update(single)
    embedded_services.records.upsert("subjects", subject)
    old = load_face_template(embedded_services.records.get("subjects", "astronaut"), embedded_services)
    assert old.model == "face_sface/1.0.0" and list(old.references) == ["face_sface"] and len(old.references["face_sface"]) == 3

    refused = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 15), make_signature(7, 15)))
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "template_outdated"
    assert error["details"] == {"subject_id": "astronaut", "template_model": "face_sface/1.0.0", "service_model": FUSED_TEMPLATE}

    renewed = client.post("/api/v1/subjects/astronaut/renewal")
    assert renewed.status_code == 200 and renewed.json()["face_model"] == FUSED_TEMPLATE
    assert embedded_services.records.get("subjects", "astronaut")["face"]["template_version"] == 2
    again = client.post("/api/v1/verifications?mode=sync", json=_attempt(capture(astronaut, 16), make_signature(7, 16)))
    assert again.status_code == 200 and again.json()["status"] == "accepted", again.json()
    match = again.json()["steps"]["face-match"]["result"]
    assert set(match["member_scores"]) == {"face_sface", "face_edgeface"}
    assert match["score"] == pytest.approx(sum(match["member_scores"].values()) / 2, abs=2e-5)


def test_the_face_match_step_refuses_a_template_of_another_model(accept_path_models, embedded_services, client, astronaut):
    """The step checks again: a template changed to another model after its request was accepted is not compared."""
    from functions.messages import StepMessage
    from functions.records import VerificationRecord
    from functions.runtime.step_runner import StepContext
    from functions.steps.face_match import TemplateOutdated, face_match_step

    assert _enrol(client, astronaut).status_code == 201
    subject = embedded_services.records.get("subjects", "astronaut")
    subject.pop("_etag", None)
    subject["face"]["model"] = "face_embedding/1.0.0"
    embedded_services.records.upsert("subjects", subject)
    ctx = StepContext(embedded_services, StepMessage(verification_id="v-outdated", subject_id="astronaut", images={}),
                      VerificationRecord(id="v-outdated", subject_id="astronaut"))
    with pytest.raises(TemplateOutdated) as refused:
        face_match_step(ctx)
    assert refused.value.code == "template_outdated" and "face_embedding/1.0.0" in refused.value.message


def test_renewal_still_reads_enrolment_images_after_the_intake_pixel_limit_was_lowered(accept_path_models, embedded_services,
                                                                                     client, astronaut):
    import dataclasses

    assert _enrol(client, astronaut).status_code == 201
    # An operator lowers the limit for new photos below the size of the photos enrolled earlier.
    embedded_services.settings = dataclasses.replace(embedded_services.settings, max_image_pixels=10_000)
    renewed = client.post("/api/v1/subjects/astronaut/renewal")
    assert renewed.status_code == 200, renewed.text
