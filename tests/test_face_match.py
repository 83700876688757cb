"""face_match: the decision rule (cosine to the mean of the references, three bands) on plain vectors."""

from __future__ import annotations

import numpy as np
import pytest

from functions.biometrics.face_matching import ACCEPT, REJECT, REVIEW, FaceBands, FaceMatchResult, NoReferences, match_face

BANDS = FaceBands(accept=0.42, review=0.32)


def unit(v):
    return np.asarray(v, dtype=np.float64) / np.linalg.norm(v)


def random_orthonormal(n: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q


def at_cosine(ref: np.ndarray, cos: float, seed: int = 0) -> np.ndarray:
    """A unit vector with the given cosine to the unit vector ref."""
    r = np.random.default_rng(seed).normal(size=ref.shape)
    r = unit(r - (r @ ref) * ref)
    return cos * ref + np.sqrt(1 - cos**2) * r


def test_centroid_rule_and_record():
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=128))
    refs = [unit(base + rng.normal(size=128) * 0.05) for _ in range(3)]
    probe = unit(np.mean(refs, axis=0) + rng.normal(size=128) * 0.02)
    result = match_face(probe, refs, bands=BANDS, model_version="1.0.0")
    assert isinstance(result, FaceMatchResult)
    assert result.score == pytest.approx(float(probe @ unit(np.mean(refs, axis=0))))
    assert result.band == ACCEPT and result.is_match and len(result.reference_scores) == 3
    record = result.to_record()
    assert record["rule"] == "centroid" and record["model"] == "face_sface" and record["model_version"] == "1.0.0"
    assert (record["accept_at"], record["review_at"]) == (0.42, 0.32)


def test_bands():
    ref = unit(np.arange(1, 129, dtype=float))
    assert match_face(at_cosine(ref, 0.60), [ref], bands=BANDS, model_version="v").band == ACCEPT
    review = match_face(at_cosine(ref, 0.37), [ref], bands=BANDS, model_version="v")
    assert review.band == REVIEW and not review.is_match
    assert match_face(at_cosine(ref, 0.10), [ref], bands=BANDS, model_version="v").band == REJECT
    assert BANDS.band(0.42) == ACCEPT and BANDS.band(0.32) == REVIEW and BANDS.band(0.3199) == REJECT


def test_score_does_not_depend_on_vector_length():
    """Protected templates are quantised and stored without their unit length: the cosine ignores scale."""
    ref = unit(np.arange(1, 129, dtype=float))
    probe = at_cosine(ref, 0.5)
    a = match_face(probe, [ref], bands=BANDS, model_version="v")
    b = match_face(probe * 3.0, [ref * 0.2], bands=BANDS, model_version="v")
    assert a.score == pytest.approx(b.score) == pytest.approx(0.5)


def test_protected_templates_give_the_same_decision():
    """Orthonormal projection + permutation keep inner products and lengths, so the result does not change."""
    rng = np.random.default_rng(1)
    refs = [unit(rng.normal(size=128)) for _ in range(2)]
    probe = unit(refs[0] + rng.normal(size=128) * 0.05)
    q = random_orthonormal(128, seed=7)[rng.permutation(128)]
    plain = match_face(probe, refs, bands=BANDS, model_version="v")
    protected = match_face(q @ probe, [q @ r for r in refs], bands=BANDS, model_version="v")
    assert protected.score == pytest.approx(plain.score, abs=1e-12)
    assert protected.band == plain.band


def test_no_reference_is_an_error():
    with pytest.raises(NoReferences):
        match_face(np.ones(128), [], bands=BANDS, model_version="v")


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        match_face(np.ones(128), [np.ones(64)], bands=BANDS, model_version="v")


def test_two_networks_score_the_mean_of_their_cosines_and_record_each():
    """The fused template: each network's probe against its own references; the score is the mean of the two cosines."""
    rng = np.random.default_rng(5)
    small, large = unit(rng.standard_normal(128)), unit(rng.standard_normal(512))
    probe = {"face_sface": at_cosine(small, 0.30), "face_edgeface": at_cosine(large, 0.50)}
    refs = {"face_sface": [small], "face_edgeface": [large]}
    result = match_face(probe, refs, bands=BANDS, model_version="1.0.0")
    assert result.member_scores == pytest.approx({"face_sface": 0.30, "face_edgeface": 0.50}, abs=1e-6)
    assert result.score == pytest.approx(0.40, abs=1e-6)
    # SFace alone would reject (0.30), EdgeFace alone accept (0.50): the mean (0.40) decides.
    assert result.band == REVIEW
    record = result.to_record()
    assert record["member_scores"] == {"face_sface": 0.3, "face_edgeface": 0.5} and record["score"] == 0.4


def test_two_networks_need_references_of_both():
    rng = np.random.default_rng(6)
    probe = {"face_sface": rng.standard_normal(128), "face_edgeface": rng.standard_normal(512)}
    with pytest.raises(ValueError, match="references of"):
        match_face(probe, {"face_sface": [rng.standard_normal(128)]}, bands=BANDS, model_version="v")
    with pytest.raises(NoReferences):
        match_face(probe, {"face_sface": [rng.standard_normal(128)], "face_edgeface": []}, bands=BANDS, model_version="v")
