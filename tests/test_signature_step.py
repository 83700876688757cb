"""Signature step: reference and writer-model storage, the shipped model on raw and synthetic signatures, the three zones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from functions.biometrics.signature_preparation import NoInk
from functions.manifests import llr_calibration, sha256_file
from functions.onnx_models import load_model
from functions.biometrics.signature_verification import (
    COHORT,
    FORGED,
    GENUINE,
    UNCERTAIN,
    WRITER_MODEL_FORMAT,
    SignatureReferenceError,
    SignatureResult,
    WriterModel,
    batch_writer_scores,
    build_writer_model,
    current_writer_model,
    decode_references,
    encode_references,
    normalised_scores,
    prepare_reference,
    verify_signature,
    writer_model_from_features,
    zone,
)
from tests.fixtures.signatures import make_forgery, make_signature

ROOT = Path(__file__).resolve().parent.parent

MODELS = ROOT / "models"
SIGNATURES = ROOT.parent / "shared" / "data" / "signatures"
SPLITS = json.loads((ROOT / "model_export" / "signature" / "splits.json").read_text())


@pytest.fixture(scope="module")
def model():
    return load_model("signature", MODELS)


@pytest.fixture(scope="module")
def writer_a_refs():
    return [prepare_reference(make_signature(11, s)) for s in range(5)]


def test_references_round_trip_compactly(writer_a_refs):
    data = encode_references(writer_a_refs)
    back = decode_references(data)
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(writer_a_refs, back))
    assert len(data) < 5 * 8000  # canvases are mostly zeros


def test_garbage_references_are_refused():
    with pytest.raises(SignatureReferenceError):
        decode_references(b"not an npz")
    with pytest.raises(SignatureReferenceError):
        encode_references([np.zeros((10, 10), np.uint8)])
    with pytest.raises(SignatureReferenceError):
        WriterModel.decode(b"not an npz")


def test_fewer_than_three_references_are_refused(writer_a_refs, model):
    with pytest.raises(SignatureReferenceError) as err:
        verify_signature(make_signature(11, 9), writer_a_refs[:2], model=model)
    assert err.value.code == "not_enough_references"


def test_blank_questioned_image_fails_with_reason(writer_a_refs, model):
    with pytest.raises(NoInk):
        verify_signature(np.clip(np.random.default_rng(0).normal(230, 3, (150, 400)), 0, 255).astype(np.uint8), writer_a_refs, model=model)


def test_zones_follow_the_thresholds():
    t = {"genuine": 0.8, "forged": 0.3}
    assert zone(0.9, t) == GENUINE and zone(0.5, t) == UNCERTAIN and zone(0.1, t) == FORGED


def test_manifest_matches_the_shipped_files(model):
    m = model.manifest
    assert m.name == "signature"
    assert m.sha256 == sha256_file(model.dir / m.file)
    assert (model.dir / m.file).stat().st_size < 20e6
    assert 0.0 <= m.thresholds["forged"] <= m.thresholds["genuine"] <= 1.0
    assert m.calibration["method"] == "platt" and m.calibration["a"] > 0  # higher raw score -> more likely genuine
    comparison = m.extra["comparison"]
    assert comparison["kind"] == "embedding" and comparison["rule"] in ("distance_over_spread", "writer_svm", "fusion")
    background = comparison["background"]
    assert background["sha256"] == sha256_file(model.dir / background["file"])
    assert m.extra["training"]["splits_sha256"] == sha256_file(ROOT / "model_export" / "signature" / "splits.json")
    cohort = comparison.get("cohort")
    if comparison.get("normalisation", "none") != "none":
        assert cohort["sha256"] == sha256_file(model.dir / cohort["file"])
    llr = m.calibration["llr"]
    assert llr["a"] > 0  # a higher score is more likely the same writer
    for capture in ("scan", "pad", "scan->pad"):  # figures at the deployed zones, per capture and set
        assert set(m.metrics["per_capture"][capture]) == {"sign_data", "bhsig_bengali", "bhsig_hindi", "cedar", "all"}


def test_splits_keep_every_writer_on_one_side():
    for name, parts in SPLITS["sets"].items():
        train, val, test = (set(parts[k]) for k in ("train", "val", "test"))
        assert train and val and test, name
        assert not (train & val or train & test or val & test), name


def test_folds_deal_every_development_writer_once_and_never_a_test_writer():
    from model_export.signature.data import N_FOLDS, development_writers, fold_writers

    folds = [set(fold_writers(SPLITS, k)) for k in range(N_FOLDS)]
    assert set().union(*folds) == set(development_writers(SPLITS))
    assert sum(map(len, folds)) == len(development_writers(SPLITS))  # disjoint
    test = {w for parts in SPLITS["sets"].values() for w in parts["test"]}
    assert not test & set().union(*folds)
    for name, parts in SPLITS["sets"].items():  # every fold holds about a quarter of every set
        members = set(parts["train"]) | set(parts["val"])
        sizes = [len(f & members) for f in folds]
        assert max(sizes) - min(sizes) <= 1, name
    with pytest.raises(ValueError):
        fold_writers(SPLITS, N_FOLDS)


def test_result_record_has_what_the_decision_needs(writer_a_refs, model):
    result = verify_signature(make_signature(11, 7), writer_a_refs, model=model)
    assert isinstance(result, SignatureResult)
    record = result.to_record()
    json.dumps(record)
    assert record["label"] in (GENUINE, FORGED, UNCERTAIN)
    assert 0.0 <= record["score"] <= 1.0
    assert len(record["distances"]) == 5 and "svm" in record
    assert record["model"]["version"] == model.version


def test_writer_model_is_stored_and_rebuilt_after_a_model_change(writer_a_refs, model):
    stored = WriterModel.decode(build_writer_model(model, writer_a_refs).encode())
    assert stored.model_sha256 == model.manifest.sha256 and stored.features.shape[0] == 5
    refs = np.stack(writer_a_refs)
    assert current_writer_model(model, refs, stored) is stored
    stale = WriterModel("another model", stored.features * 0, stored.spread, stored.svm * 0)
    rebuilt = current_writer_model(model, refs, stale)
    assert rebuilt is not stale and np.allclose(rebuilt.svm, stored.svm, atol=1e-4)
    questioned = make_signature(11, 7)
    a = verify_signature(questioned, writer_a_refs, model, stored)
    b = verify_signature(questioned, writer_a_refs, model, stale)
    assert a.score == pytest.approx(b.score, abs=1e-4)


def test_synthetic_writer_genuine_scores_above_other_writer_and_forgery(writer_a_refs, model):
    genuine = [verify_signature(make_signature(11, s), writer_a_refs, model=model) for s in (20, 21, 22)]
    other = [verify_signature(make_signature(w, 0), writer_a_refs, model=model) for w in (12, 13, 14)]
    forged = [verify_signature(make_forgery(11, s), writer_a_refs, model=model) for s in (0, 1, 2)]
    g = min(r.score for r in genuine)
    assert g > max(r.score for r in other)
    assert np.mean([r.score for r in genuine]) > np.mean([r.score for r in forged])
    assert all(r.label != GENUINE for r in other)


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def _phone_photo(gray: np.ndarray, seed: int) -> np.ndarray:
    """A cleaned scan as a phone would send it: larger, colour, grey paper with a shadow and grain, a dark table edge."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.resize(gray, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    h, w = big.shape
    paper = big * 0.85 * (np.linspace(0.6, 1.0, w)[None, :] * np.linspace(0.9, 1.0, h)[:, None])
    page = np.full((h + 80, w + 80), 50, np.float32)
    page[40:-40, 40:-40] = paper + rng.normal(0, 3, paper.shape)
    return np.clip(np.dstack([page * 0.97, page, page * 0.9]), 0, 255).astype(np.uint8)


def _dark_mode(gray: np.ndarray) -> np.ndarray:
    """Light strokes on a dark screen, as a dark-mode signing pad exports them."""
    return (255 - gray.astype(np.int16) * 200 // 255).astype(np.uint8)


def _writer_images(name: str, writer: str) -> tuple[list[Path], list[Path]]:
    root = SIGNATURES / name / writer
    return sorted((root / "genuine").glob("*.png")), sorted((root / "forged").glob("*.png"))


@pytest.mark.skipif(not SIGNATURES.is_dir(), reason=f"signature data sets not found at {SIGNATURES}")
def test_raw_scans_of_a_test_writer_genuine_vs_forged(model):
    """sign_data holds raw scans: a held-out test writer's genuine signatures score above their skilled forgeries."""
    genuine, forged = _writer_images("sign_data", SPLITS["sets"]["sign_data"]["test"][0])
    refs = [prepare_reference(_read(p)) for p in genuine[:5]]
    g = [verify_signature(_read(p), refs, model=model) for p in genuine[5:9]]
    f = [verify_signature(_read(p), refs, model=model) for p in forged[:4]]
    assert np.mean([r.score for r in g]) > np.mean([r.score for r in f])
    assert sum(r.label == GENUINE for r in f) <= 1
    assert sum(r.label == FORGED for r in g) <= 1


@pytest.mark.skipif(not SIGNATURES.is_dir(), reason=f"signature data sets not found at {SIGNATURES}")
@pytest.mark.parametrize("name", ["bhsig_bengali", "bhsig_hindi", "cedar"])
def test_phone_photos_and_dark_mode_captures_decide_like_the_clean_scans(model, name):
    """Cleaned references, questioned signatures sent raw (photo, dark mode): the scores follow the clean ones."""
    genuine, forged = _writer_images(name, SPLITS["sets"][name]["test"][0])
    refs = [prepare_reference(_read(p)) for p in genuine[:5]]
    for questioned in genuine[5:7] + forged[:2]:
        clean = verify_signature(_read(questioned), refs, model=model).score
        for raw in (_phone_photo(_read(questioned), 1), _dark_mode(_read(questioned))):
            assert verify_signature(raw, refs, model=model).score == pytest.approx(clean, abs=0.25), questioned


@pytest.mark.skipif(not SIGNATURES.is_dir(), reason=f"signature data sets not found at {SIGNATURES}")
def test_serving_and_evaluation_compute_the_same_scores(model):
    """The evaluation scores batches of features with the service's writer model and manifest; it must agree with serving."""
    pytest.importorskip("torch", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")
    pytest.importorskip("sklearn", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")
    from model_export.signature.evaluate import deployed_scores, model_features
    from model_export.signature.trials import WriterTrials

    genuine, forged = _writer_images("cedar", SPLITS["sets"]["cedar"]["test"][0])
    canvases = np.stack([prepare_reference(_read(p)) for p in genuine[:6] + forged[:1]])
    features = model_features(model, canvases)
    trial = WriterTrials("cedar", "w", np.arange(5), np.array([5]), np.array([6]), np.array([], int))
    evaluation = deployed_scores(model, {"scan": features, "pad": features}, [trial])["scan"][0]
    for kind, index in (("genuine", 5), ("skilled", 6)):
        served = verify_signature(_read((genuine[:6] + forged[:1])[index]), list(canvases[:5]), model=model)
        assert served.score == pytest.approx(float(evaluation[kind][0]), abs=1e-4)


def test_a_writer_model_of_the_previous_format_is_rebuilt(writer_a_refs, model):
    """A format-1 writer model (no cohort statistics) decodes, and the step rebuilds it from the stored canvases."""
    import io

    current = build_writer_model(model, writer_a_refs)
    buf = io.BytesIO()
    np.savez_compressed(buf, model_sha256=np.array(model.manifest.sha256), features=current.features.astype(np.float32),
                        spread=np.array(current.spread), svm=current.svm)
    old = WriterModel.decode(buf.getvalue())
    assert old.format == 1
    rebuilt = current_writer_model(model, np.stack(writer_a_refs), old)
    assert rebuilt is not old and rebuilt.format == WRITER_MODEL_FORMAT
    assert np.allclose(rebuilt.cohort_mean, current.cohort_mean) and np.allclose(rebuilt.cohort_std, current.cohort_std)


def test_cohort_normalisation_reads_scores_in_cohort_deviations(writer_a_refs, model):
    """z-norm: the cohort itself scores about 0 on average with unit spread, per writer, whatever the writer's raw scale."""
    comparison = {"normalisation": COHORT}
    rng = np.random.default_rng(0)
    cohort = rng.normal(size=(50, 8))
    cohort /= np.linalg.norm(cohort, axis=1, keepdims=True)
    refs = rng.normal(size=(5, 8))
    writer = writer_model_from_features(refs / np.linalg.norm(refs, axis=1, keepdims=True), -cohort[:10], 0.1, cohort=cohort)
    z = np.array([normalised_scores(*batch_writer_scores(c[None], writer)[0], writer, comparison) for c in cohort])
    assert np.allclose(z.mean(axis=0), 0, atol=1e-9) and np.allclose(z.std(axis=0), 1, atol=1e-9)
    assert normalised_scores(1.0, 2.0, writer, {}) == (1.0, 2.0)  # no normalisation asked: the raw scores
    restored = WriterModel.decode(writer.encode())
    assert np.allclose(restored.cohort_mean, writer.cohort_mean) and restored.format == WRITER_MODEL_FORMAT


def test_result_carries_a_log_likelihood_ratio_consistent_with_its_score(writer_a_refs, model):
    """The recorded LLR is the manifest's calibration.llr applied to the calibrated score, the rule the decision reads."""
    result = verify_signature(make_signature(11, 7), writer_a_refs, model=model)
    calibration = llr_calibration(model.manifest)
    assert calibration is not None and result.llr == pytest.approx(calibration.llr(result.score), abs=1e-9)
    if calibration.of == "logit" and (calibration.a, calibration.b) == (1.0, 0.0):  # the Platt fit itself: llr = logit(score)
        p = min(max(result.score, 1e-9), 1 - 1e-9)
        assert result.llr == pytest.approx(min(max(np.log(p / (1 - p)), calibration.low), calibration.high), abs=1e-6)
    assert result.to_record()["llr"] == round(result.llr, 4)
