"""Synthetic demo signatures: deterministic, one style per writer seed, usable by the preprocessing."""

from __future__ import annotations

import numpy as np

from functions.biometrics.signature_preparation import prepare_signature
from tests.fixtures.signatures import make_forgery, make_signature


def test_a_sample_signature_is_dark_ink_on_light_paper_150x400():
    img = make_signature(0, 0)
    assert img.shape == (150, 400) and img.dtype == np.uint8
    assert np.median(img) > 200  # light paper
    assert img.min() < 90  # dark ink


def test_deterministic_per_writer_and_sample():
    assert np.array_equal(make_signature(4, 2), make_signature(4, 2))
    assert np.array_equal(make_forgery(4, 2), make_forgery(4, 2))
    assert not np.array_equal(make_signature(4, 2), make_signature(4, 3))


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    ca = cv2.GaussianBlur(prepare_signature(a).astype(np.float32), (0, 0), 3)
    cb = cv2.GaussianBlur(prepare_signature(b).astype(np.float32), (0, 0), 3)
    return float(np.corrcoef(ca.ravel(), cb.ravel())[0, 1])


def test_same_writer_is_more_alike_than_another_writer():
    same = np.mean([_similarity(make_signature(w, 0), make_signature(w, 1)) for w in range(5)])
    other = np.mean([_similarity(make_signature(w, 0), make_signature(w + 1, 0)) for w in range(5)])
    forged = np.mean([_similarity(make_signature(w, 0), make_forgery(w, 0)) for w in range(5)])
    assert same > forged > other
