"""crop_face on real photos: one reason code per way a face photo can be unusable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from functions.biometrics.face_detection import (
    FACE_CUT_OFF,
    FACE_TOO_SMALL,
    LOW_FACE_SCORE,
    MULTIPLE_FACES,
    NO_FACE,
    FaceCropResult,
    crop_face,
    outside_fraction,
)
from functions.biometrics.face_alignment import ChipGeometry
from tests.fixtures.faces import FACES_DIR, read_rgb
from tests.fixtures.photos import astronaut, coffee, grace_hopper

# Same geometry as the shipped manifest's shape (values from its alignment fit, rounded).
GEOMETRY = ChipGeometry(
    size=150,
    padding=0.25,
    reference={"right_eye": (0.318, 0.323), "left_eye": (0.684, 0.321), "mouth_center": (0.498, 0.698)},
    weights={"right_eye": 1.0, "left_eye": 1.0, "mouth_center": 1.0},
)


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = max(a.shape[0], b.shape[0])
    pad = lambda im: cv2.copyMakeBorder(im, 0, h - im.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    return np.ascontiguousarray(np.hstack([pad(a), pad(b)]))


def test_one_face_gives_chip_and_context():
    result = crop_face(astronaut(), chip_spec=GEOMETRY)
    assert result.reason is None and result.ok
    assert result.faces_found == 1
    assert result.chip.shape == (150, 150, 3) and result.chip.dtype == np.uint8
    assert result.context.shape == (256, 256, 3)
    record = result.to_record()
    assert record["reason"] is None and record["chip_size"] == 150
    assert "chip" not in record and record["detection"]["inter_eye_px"] > 24
    # The keypoints land on the chip geometry's reference places.
    from functions.biometrics.face_alignment import chip_transform

    m = chip_transform(result.detection.keypoints, GEOMETRY)
    for name in ("right_eye", "left_eye"):
        x, y = result.detection.keypoints[name]
        u, v = m @ np.array([x, y, 1.0])
        rx, ry = GEOMETRY.reference[name]
        assert abs(u - rx * 150) < 6 and abs(v - ry * 150) < 6


def test_without_chip_spec_no_chip_is_cut():
    result = crop_face(grace_hopper())
    assert result.ok and result.chip is None and result.context is not None


def test_a_photo_without_a_face_is_no_face_and_cuts_no_chip():
    result = crop_face(coffee(), chip_spec=GEOMETRY)
    assert result.reason == NO_FACE and result.faces_found == 0 and result.chip is None
    blank = np.full((300, 300, 3), 200, np.uint8)
    assert crop_face(blank).reason == NO_FACE


def test_multiple_faces_rejected_or_largest_taken():
    a = astronaut()
    g = cv2.resize(grace_hopper(), None, fx=0.8, fy=0.8)
    both = side_by_side(a, g)
    rejected = crop_face(both, multiple_faces="reject", chip_spec=GEOMETRY)
    assert rejected.reason == MULTIPLE_FACES and rejected.faces_found >= 2 and rejected.chip is None
    largest = crop_face(both, multiple_faces="largest", chip_spec=GEOMETRY)
    assert largest.ok and largest.chip is not None
    from functions.biometrics.face_detection import detect_faces

    all_faces = detect_faces(both)
    assert largest.detection.area == max(f.area for f in all_faces)


def test_couple_photo_has_two_faces():
    path = FACES_DIR / "couple.jpg"
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared data not mounted)")
    result = crop_face(read_rgb(path), multiple_faces="reject")
    assert result.reason == MULTIPLE_FACES and result.faces_found >= 2


def test_tiny_face_is_too_small():
    tiny = cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    result = crop_face(tiny, min_eye_distance_px=24, chip_spec=GEOMETRY)
    assert result.reason == FACE_TOO_SMALL
    assert result.detection is not None and result.detection.inter_eye_px < 24


def test_face_cut_off_is_detected_when_face_is_found():
    """A face shifted so a third of its box leaves the frame, still detected, gives face_cut_off."""
    image = astronaut()
    full = crop_face(image)
    x, y, w, h = full.detection.box
    for frac in (0.2, 0.25, 0.3, 0.35):
        cut = np.ascontiguousarray(image[:, int(x + frac * w) :])
        result = crop_face(cut, min_score=0.5)
        if result.detection is not None:
            assert result.reason == FACE_CUT_OFF
            return
    pytest.fail("no shifted crop was detected at all")


def test_a_face_under_the_minimum_score_is_low_face_score():
    result = crop_face(astronaut(), min_score=0.999)
    assert result.reason == LOW_FACE_SCORE
    assert result.detection is not None and result.detection.score < 0.999


def test_bad_policy_is_refused():
    with pytest.raises(ValueError):
        crop_face(astronaut(), multiple_faces="all")


def test_outside_fraction_is_the_share_of_the_box_outside_the_frame():
    assert outside_fraction((0, 0, 10, 10), 100, 100) == 0
    assert outside_fraction((-5, 0, 10, 10), 100, 100) == pytest.approx(0.5)
    assert outside_fraction((95, 95, 10, 10), 100, 100) == pytest.approx(0.75)


def test_result_record_is_json_safe():
    import json

    json.dumps(crop_face(coffee()).to_record())
    assert isinstance(FaceCropResult(NO_FACE, None, 0).to_record(), dict)


def test_geometry_round_trips_and_missing_model_is_reported(tmp_path):
    from functions.errors import ModelNotInstalled
    from functions.biometrics.face_alignment import load_chip_geometry

    again = ChipGeometry.from_dict(GEOMETRY.to_dict())
    assert again.size == 150 and again.reference["left_eye"] == pytest.approx(GEOMETRY.reference["left_eye"])
    with pytest.raises(ModelNotInstalled):
        load_chip_geometry(tmp_path)


# --- several faces: the dominant face is taken, competing faces are refused --------------------------


def scene(main: np.ndarray, other: np.ndarray, other_scale: float, *, main_at: str = "centre") -> np.ndarray:
    """A grey 1200x800 frame: `main` placed in the centre (or at the left edge), `other` scaled, top right."""
    frame = np.full((800, 1200, 3), 128, np.uint8)
    h, w = main.shape[:2]
    x0 = (1200 - w) // 2 if main_at == "centre" else 0
    frame[(800 - h) // 2 : (800 - h) // 2 + h, x0 : x0 + w] = main
    small = cv2.resize(other, None, fx=other_scale, fy=other_scale, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    x1 = 1200 - sw - 10 if main_at == "centre" else (1200 - sw) // 2
    frame[10 : 10 + sh, x1 : x1 + sw] = small
    return frame


def test_a_bystander_is_ignored_and_flagged():
    from functions.biometrics.face_detection import OTHER_FACES_IGNORED

    image = scene(astronaut(), grace_hopper(), 0.45)
    result = crop_face(image, chip_spec=GEOMETRY)  # the default policy is 'dominant'
    assert result.ok and result.faces_found >= 2 and result.flags == (OTHER_FACES_IGNORED,)
    assert 350 < result.detection.box[0] + result.detection.box[2] / 2 < 850  # the centred face was taken
    assert result.to_record()["flags"] == [OTHER_FACES_IGNORED]
    assert crop_face(image, multiple_faces="reject").reason == MULTIPLE_FACES


def test_two_faces_of_one_size_compete_and_are_refused():
    a = astronaut()
    result = crop_face(side_by_side(a, a[:, ::-1]))
    assert result.reason == MULTIPLE_FACES and result.chip is None and result.faces_found >= 2


def test_a_larger_face_at_the_edge_does_not_win_over_a_centred_one():
    """Largest by a margin but another face is nearer the centre: nobody is clearly the subject."""
    result = crop_face(scene(astronaut(), grace_hopper(), 0.45, main_at="left"))
    assert result.reason == MULTIPLE_FACES


def test_one_face_has_no_flag():
    result = crop_face(astronaut())
    assert result.ok and result.flags == ()


@pytest.mark.parametrize("name", ["couple.jpg", "selfie-many-people.jpg"])
def test_real_group_photos_are_refused_when_faces_compete(name):
    path = FACES_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared data not mounted)")
    result = crop_face(read_rgb(path))
    assert result.reason == MULTIPLE_FACES and result.faces_found >= 2


NUAA_WITH_BYSTANDERS = ("train/live/0001/0001_00_00_02_409.jpg", "train/live/0004/0004_01_00_01_145.jpg",
                        "train/live/0007/0007_00_00_01_374.jpg", "dev/live/0011/0011_01_07_03_186.jpg")


@pytest.mark.parametrize("frame", NUAA_WITH_BYSTANDERS)
def test_kiosk_frames_with_people_behind_are_verified_on_the_subject(frame):
    from functions.biometrics.face_detection import OTHER_FACES_IGNORED

    path = FACES_DIR.parent / "nuaa" / frame
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared data not mounted)")
    image = read_rgb(path)
    result = crop_face(image)
    assert result.ok and result.flags == (OTHER_FACES_IGNORED,)
    x, y, w, h = result.detection.box
    assert abs((x + w / 2) / image.shape[1] - 0.5) < 0.15  # the subject sits in the middle of these frames


def test_a_large_photo_is_detected_on_a_scaled_copy_and_cut_from_the_full_image():
    from functions.biometrics.face_detection import DETECTION_MAX_SIDE, detection_copy

    big = cv2.resize(astronaut(), (2600, 2600), interpolation=cv2.INTER_CUBIC)
    assert max(detection_copy(big).shape[:2]) == DETECTION_MAX_SIDE
    small_result, big_result = crop_face(astronaut(), chip_spec=GEOMETRY), crop_face(big, chip_spec=GEOMETRY)
    assert big_result.ok
    # keypoints come back in the full image's pixels
    scale = 2600 / 512
    for k in ("right_eye", "left_eye"):
        assert np.allclose(np.array(big_result.detection.keypoints[k]) / scale, small_result.detection.keypoints[k], atol=4)
    assert np.median(np.abs(big_result.chip.astype(int) - small_result.chip.astype(int))) < 10
