"""Signature step: reference storage, the shipped model on real and synthetic signatures, the three zones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from functions.imaging.signature_preprocessing import NoInk
from functions.manifests import sha256_file
from functions.runtime.models import load_model
from functions.steps.signature import (
    FORGED,
    GENUINE,
    UNCERTAIN,
    SignatureReferenceError,
    SignatureResult,
    decode_references,
    encode_references,
    prepare_reference,
    verify_signature,
    zone,
)
from tests.fixtures.signatures import make_forgery, make_signature

ROOT = Path(__file__).resolve().parent.parent

MODELS = ROOT / "models"
SIGN_DATA = ROOT.parent / "shared" / "data" / "signatures" / "sign_data"


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


def test_manifest_matches_the_shipped_file(model):
    m = model.manifest
    assert m.name == "signature"
    assert m.sha256 == sha256_file(model.dir / m.file)
    assert 0.0 <= m.thresholds["forged"] <= m.thresholds["genuine"] <= 1.0
    assert m.calibration["method"] == "platt" and m.calibration["a"] < 0  # larger distance -> lower score
    assert m.extra["comparison"]["kind"] in ("embedding", "pair")
    assert "eer_skilled" in m.metrics


def test_result_record_has_what_the_decision_needs(writer_a_refs, model):
    result = verify_signature(make_signature(11, 7), writer_a_refs, model=model)
    assert isinstance(result, SignatureResult)
    record = result.to_record()
    json.dumps(record)
    assert record["label"] in (GENUINE, FORGED, UNCERTAIN)
    assert 0.0 <= record["score"] <= 1.0
    assert len(record["distances"]) == 5
    assert record["model"]["version"] == model.version


@pytest.mark.xfail(strict=True, reason="known weakness of the shipped model: skilled-forgery test EER 14.9% (models/signature/REPORT.md); "
                   "the synthetic forgeries of writer 11 score above its genuine samples")
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


@pytest.mark.skipif(not SIGN_DATA.is_dir(), reason=f"signature data set not found at {SIGN_DATA}")
@pytest.mark.xfail(strict=True, reason="known weakness of the shipped model: skilled-forgery test EER 14.9% (models/signature/REPORT.md); "
                   "this held-out writer's forgeries score above the genuine signatures")
def test_real_test_writer_genuine_vs_forged(model):
    """A writer from the held-out test split: genuine signatures score above their skilled forgeries."""
    test_writers = model.manifest.extra["training"]["split"]["test"]
    writer = test_writers[0]
    genuine = sorted((SIGN_DATA / writer / "genuine").glob("*.png"))
    forged = sorted((SIGN_DATA / writer / "forged").glob("*.png"))
    refs = [prepare_reference(_read(p)) for p in genuine[:5]]
    g = [verify_signature(_read(p), refs, model=model) for p in genuine[5:9]]
    f = [verify_signature(_read(p), refs, model=model) for p in forged[:4]]
    assert np.mean([r.score for r in g]) > np.mean([r.score for r in f])
    assert sum(r.label == GENUINE for r in f) <= 1
    assert sum(r.label == FORGED for r in g) <= 1


@pytest.mark.skipif(not SIGN_DATA.is_dir(), reason=f"signature data set not found at {SIGN_DATA}")
def test_serving_and_evaluation_compute_the_same_distances(model):
    """The evaluation scores the exported model through its own batched path; it must agree with serving."""
    pytest.importorskip("sklearn", reason="model_export's evaluation needs scikit-learn")
    from functions.steps.signature import reference_distances
    from model_export.signature.data import SignatureSet
    from model_export.signature.evaluate import OnnxComparator

    paths = sorted((SIGN_DATA / "001" / "genuine").glob("*.png"))[:4]
    canvases = np.stack([prepare_reference(_read(p)) for p in paths])
    serving = reference_distances(model, canvases[0], list(canvases[1:]))
    m = model.manifest
    comp = OnnxComparator(model.dir / m.file, (m.input.height, m.input.width))
    sigset = SignatureSet(canvases, np.array(["001"] * 4), np.ones(4, bool), [str(p) for p in paths])
    evaluation = comp.distances(sigset, np.zeros(3, int), np.arange(1, 4))
    np.testing.assert_allclose(serving, evaluation, atol=1e-4)
