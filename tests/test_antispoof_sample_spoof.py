"""The simulated attacks used by the demo and the probes: deterministic, realistic enough to keep a detectable face."""

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
    from functions.biometrics.face_detection import detect_faces

    image = _astronaut()
    attack = make_print_attack(image, 0)
    # Ink never reaches full black and paper never full white inside the print.
    lo, hi = np.percentile(attack, [1, 99])
    assert lo > np.percentile(image, 1) and hi < np.percentile(image, 99) + 1
    assert detect_faces(attack), "the attack must still show a face the service detects"


def test_screen_replay_is_deterministic_keeps_a_face_and_shows_a_bezel():
    from functions.biometrics.face_detection import detect_faces
    from tests.fixtures.spoof import make_screen_replay

    image = _astronaut()
    a, b, c = make_screen_replay(image, 1), make_screen_replay(image, 1), make_screen_replay(image, 2)
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert detect_faces(a), "the replay must still show a face the service detects"
    # The phone's black bezel: a dark band between the room and the screen along the middle row.
    row = a[a.shape[0] // 2].astype(float).mean(axis=1)
    assert row[: a.shape[1] // 4].min() < 40
    # The display's cool white point: blue relative to red is higher on the screen than in the photo.
    face = (slice(100, 250), slice(180, 330))

    def blue_over_red(x):
        return float(x[face][:, :, 2].mean() / x[face][:, :, 0].mean())

    assert blue_over_red(a) > blue_over_red(image)
