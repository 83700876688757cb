"""face_match: the decision rule on plain vectors, and the whole path on real photos with the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from functions.steps.face_match import FaceMatchResult, NoReferences, match_face, similarity_from_distance
from tests.fixtures.faces import model_dir_or_skip
from tests.fixtures.photos import astronaut, grace_hopper


def random_orthonormal(n: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q


def test_the_distance_is_to_the_references_mean_and_the_record_names_the_rule():
    rng = np.random.default_rng(0)
    refs = [rng.normal(size=128) * 0.05 for _ in range(3)]
    probe = np.mean(refs, axis=0) + 0.01
    result = match_face(probe, refs, threshold=0.6, model_version="1.0.0", similarity_slope=12.0)
    assert isinstance(result, FaceMatchResult)
    assert result.distance == pytest.approx(np.linalg.norm(probe - np.mean(refs, axis=0)))
    assert result.is_match and result.similarity > 0.5
    assert len(result.reference_distances) == 3
    record = result.to_record()
    assert record["rule"] == "centroid" and record["model_version"] == "1.0.0"


def test_far_probe_is_rejected():
    ref = np.zeros(128)
    probe = np.full(128, 0.1)  # distance 1.13
    result = match_face(probe, [ref], threshold=0.6, model_version="x")
    assert not result.is_match and result.similarity < 0.5


def test_bands_against_the_strict_threshold():
    ref = np.zeros(128)
    unit = np.ones(128) / np.sqrt(128)
    kw = dict(threshold=0.6, strict_threshold=0.4, model_version="v")
    assert match_face(unit * 0.3, [ref], **kw).band == "strong"
    weak = match_face(unit * 0.5, [ref], **kw)
    assert weak.band == "weak" and weak.is_match
    far = match_face(unit * 0.7, [ref], **kw)
    assert far.band == "no_match" and not far.is_match


def test_similarity_is_half_at_threshold_and_monotone():
    assert similarity_from_distance(0.6, threshold=0.6, slope=10) == pytest.approx(0.5)
    values = [similarity_from_distance(d, threshold=0.6, slope=10) for d in np.linspace(0, 2, 21)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert 0.0 <= min(values) and max(values) <= 1.0


def test_protected_templates_give_the_same_decision():
    """Orthonormal projection + permutation keep distances and means, so the result does not change."""
    rng = np.random.default_rng(1)
    refs = [rng.normal(size=128) * 0.04 for _ in range(2)]
    probe = refs[0] + rng.normal(size=128) * 0.03
    q = random_orthonormal(128, seed=7)[rng.permutation(128)]
    plain = match_face(probe, refs, threshold=0.6, model_version="v")
    protected = match_face(q @ probe, [q @ r for r in refs], threshold=0.6, model_version="v")
    assert protected.distance == pytest.approx(plain.distance, rel=1e-9)
    assert protected.is_match == plain.is_match


def test_no_reference_is_an_error():
    with pytest.raises(NoReferences):
        match_face(np.zeros(128), [], threshold=0.6, model_version="v")


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        match_face(np.zeros(128), [np.zeros(64)], threshold=0.6, model_version="v")


def test_real_photos_through_the_service_path():
    """crop_face -> chip -> ONNX -> match_face: the same person matches, two people do not."""
    import cv2

    from functions.imaging.face_detection import crop_face
    from functions.imaging.face_preprocessing import ChipGeometry
    from functions.runtime.models import OnnxModel
    from functions.steps.face_match import embed_face, match_settings

    model = OnnxModel(model_dir_or_skip())
    geometry = ChipGeometry.from_manifest(model.manifest)
    settings = match_settings(model)
    assert settings["threshold"] == model.manifest.thresholds["distance"]

    a = astronaut()
    # The same photo, re-captured: rotated 8 degrees, scaled to 80 %, a little brighter.
    h, w = a.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 0.8)
    a2 = np.clip(cv2.warpAffine(a, m, (w, h), borderMode=cv2.BORDER_REFLECT).astype(np.int16) + 15, 0, 255).astype(np.uint8)
    chips = [crop_face(img, chip_spec=geometry).chip for img in (a, a2, grace_hopper())]
    assert all(c is not None for c in chips)
    emb = [embed_face(c, model) for c in chips]
    assert emb[0].shape == (128,) and emb[0].dtype == np.float32
    same = match_face(emb[1], [emb[0]], **settings)
    other = match_face(emb[2], [emb[0]], **settings)
    assert same.is_match and same.distance < 0.4
    assert not other.is_match and other.band == "no_match" and other.distance > settings["threshold"]
