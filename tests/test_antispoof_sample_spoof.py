"""The simulated printed-photo attack used by the demo: deterministic, realistic enough to keep a detectable face."""

from __future__ import annotations

import numpy as np

from tests.fixtures.spoof import make_print_attack


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_same_seed_same_attack_other_seed_other_attack():
    image = _astronaut()
    a, b, c = make_print_attack(image, 3), make_print_attack(image, 3), make_print_attack(image, 4)
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_print_has_reduced_dynamic_range_and_keeps_a_face():
    from functions.imaging.face_detection import detect_faces

    image = _astronaut()
    attack = make_print_attack(image, 0)
    # Ink never reaches full black and paper never full white inside the print.
    lo, hi = np.percentile(attack, [1, 99])
    assert lo > np.percentile(image, 1) and hi < np.percentile(image, 99) + 1
    assert detect_faces(attack), "the attack must still show a face the service detects"
