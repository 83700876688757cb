"""Capture quality: measures of real faces, the retake reasons at the shipped limits, and what the service answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from functions.biometrics.quality import (
    RETAKE_BLURRED,
    RETAKE_BRIGHT,
    RETAKE_DARK,
    RETAKE_POSE,
    RETAKE_TOO_SMALL,
    CaptureQuality,
    QualityLimits,
    judge_capture,
    load_limits,
    pose_angles,
    retake_reasons,
)
from functions.errors import ModelNotInstalled
from functions.biometrics.face_detection import crop_face
from functions.settings import REPO_ROOT
from tests.fixtures.photos import astronaut, capture
from tests.helpers.api_schema import assert_conforms

LIMITS = load_limits(REPO_ROOT / "models")


def judged(image: np.ndarray):
    found = crop_face(image, min_eye_distance_px=0.0)
    assert found.ok, found.reason
    return judge_capture(image, found.detection.box, found.detection.keypoints, LIMITS)


def frontal_points(eye_distance: float = 60.0) -> dict[str, tuple[float, float]]:
    mouth_drop = eye_distance  # MOUTH_DROP_PER_EYE_DISTANCE = 1
    nose_y = 200 + LIMITS.frontal_nose_position * mouth_drop
    return {"right_eye": (200.0, 200.0), "left_eye": (200.0 + eye_distance, 200.0),
            "nose_tip": (200.0 + eye_distance / 2, nose_y), "mouth_center": (200.0 + eye_distance / 2, 200.0 + mouth_drop)}


def turned(points: dict, degrees: float) -> dict:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {k: (230 + (x - 230) * c - (y - 230) * s, 230 + (x - 230) * s + (y - 230) * c) for k, (x, y) in points.items()}


def test_a_frontal_face_has_no_pose_and_a_tilted_head_reads_its_roll():
    yaw, pitch, roll = pose_angles(frontal_points(), LIMITS.frontal_nose_position)
    assert abs(yaw) < 0.5 and abs(pitch) < 0.5 and abs(roll) < 0.5
    yaw, pitch, roll = pose_angles(turned(frontal_points(), 25.0), LIMITS.frontal_nose_position)
    assert roll == pytest.approx(25.0, abs=0.1) and abs(yaw) < 0.5 and abs(pitch) < 0.5


def test_a_nose_off_the_eyes_middle_reads_as_yaw_and_a_low_nose_as_pitch():
    points = frontal_points()
    sideways = {**points, "nose_tip": (points["nose_tip"][0] + 15, points["nose_tip"][1])}
    lower = {**points, "nose_tip": (points["nose_tip"][0], points["nose_tip"][1] + 12)}
    assert pose_angles(sideways, LIMITS.frontal_nose_position)[0] > 20
    assert pose_angles(lower, LIMITS.frontal_nose_position)[1] > 20


def quality(**changes) -> CaptureQuality:
    base = dict(sharpness=500.0, brightness=110.0, contrast=40.0, dark_fraction=0.0, bright_fraction=0.0,
                eye_distance_px=90.0, yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0)
    return CaptureQuality(**{**base, **changes})


@pytest.mark.parametrize("changes, reason, measure", [
    ({"eye_distance_px": LIMITS.min_eye_distance_px - 1}, RETAKE_TOO_SMALL, "eye_distance_px"),
    ({"brightness": LIMITS.min_brightness - 1}, RETAKE_DARK, "brightness"),
    ({"brightness": LIMITS.max_brightness + 1}, RETAKE_BRIGHT, "brightness"),
    ({"sharpness": LIMITS.min_sharpness - 1}, RETAKE_BLURRED, "sharpness"),
    ({"roll_deg": -(LIMITS.max_roll_deg + 1)}, RETAKE_POSE, "roll_deg"),
    ({"yaw_deg": LIMITS.max_yaw_deg + 1}, RETAKE_POSE, "yaw_deg"),
])
def test_each_limit_gives_its_retake_reason_with_the_value_and_the_limit(changes, reason, measure):
    assert retake_reasons(quality(), LIMITS) == ()
    found = retake_reasons(quality(**changes), LIMITS)
    assert [(r.reason, r.measure) for r in found] == [(reason, measure)]
    assert found[0].value == pytest.approx(abs(next(iter(changes.values()))))
    assert found[0].to_dict()["limit"] == pytest.approx(getattr(LIMITS, {"eye_distance_px": "min_eye_distance_px",
        "sharpness": "min_sharpness", "roll_deg": "max_roll_deg", "yaw_deg": "max_yaw_deg"}.get(
        measure, "min_brightness" if reason == RETAKE_DARK else "max_brightness")))


def test_an_operators_size_floor_only_ever_tightens_the_limit():
    assert LIMITS.with_min_eye_distance(0).min_eye_distance_px == LIMITS.min_eye_distance_px
    assert LIMITS.with_min_eye_distance(LIMITS.min_eye_distance_px + 50).min_eye_distance_px == LIMITS.min_eye_distance_px + 50


def test_the_limits_come_from_the_shipped_manifest_and_a_missing_one_is_reported(tmp_path):
    assert isinstance(LIMITS, QualityLimits) and LIMITS.min_sharpness > 0 and LIMITS.version
    with pytest.raises(ModelNotInstalled):
        load_limits(tmp_path)


# --- real faces ------------------------------------------------------------------------------


def test_a_sharp_well_lit_face_is_usable():
    verdict = judged(capture(astronaut(), 11))
    assert verdict.ok, verdict.to_record()


@pytest.mark.parametrize("sigma", [3.0, 4.0])
def test_a_blurred_face_asks_for_a_retake_with_its_sharpness(sigma):
    image = cv2.GaussianBlur(capture(astronaut(), 11), (0, 0), sigma)
    verdict = judged(image)
    assert verdict.reason == RETAKE_BLURRED, verdict.to_record()
    assert verdict.retakes[0].value < verdict.retakes[0].limit == LIMITS.min_sharpness


def test_sharpness_reads_focus_not_light_or_size():
    """A darker or a smaller copy of one sharp face measures about as sharp; a blurred one does not."""
    image = capture(astronaut(), 11)
    sharp = judged(image).quality.sharpness
    darker = judged((image.astype(np.float32) * 0.4).astype(np.uint8)).quality.sharpness
    blurred = judged(cv2.GaussianBlur(image, (0, 0), 3.0)).quality.sharpness
    assert blurred < 0.5 * sharp and darker > 0.7 * sharp


def test_a_rotated_face_asks_for_a_retake_of_its_pose():
    image = capture(astronaut(), 11)
    h, w = image.shape[:2]
    for angle in range(int(LIMITS.max_roll_deg) - 10, 90, 5):
        rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE)
        found = crop_face(rotated, min_eye_distance_px=0.0)
        if not found.ok:
            pytest.skip(f"the detector loses the face at {angle} degrees before its roll passes the limit")
        verdict = judge_capture(rotated, found.detection.box, found.detection.keypoints, LIMITS)
        if abs(verdict.quality.roll_deg) > LIMITS.max_roll_deg:
            assert verdict.reason == RETAKE_POSE and verdict.retakes[0].measure == "roll_deg", verdict.to_record()
            return
        assert verdict.reason != RETAKE_POSE, verdict.to_record()
    pytest.fail("no rotation took the measured roll past the limit")


def test_a_face_too_bright_asks_for_a_retake():
    image = capture(astronaut(), 11).astype(np.float32)
    for gain in (1.5, 2.0, 2.5, 3.0, 4.0):
        verdict = judged(np.clip(image * gain, 0, 255).astype(np.uint8))
        q = verdict.quality
        if q.brightness > LIMITS.max_brightness or q.bright_fraction > LIMITS.max_clipped_fraction:
            assert verdict.reason == RETAKE_BRIGHT, verdict.to_record()
            return
        assert verdict.reason != RETAKE_BRIGHT, verdict.to_record()
    pytest.fail("no exposure gain took the face past the brightness limits")


def test_a_face_darker_than_the_limit_asks_for_a_retake_when_it_is_found_at_all():
    image = capture(astronaut(), 11).astype(np.float32)
    gain = 0.9 * LIMITS.min_brightness / judged(image.astype(np.uint8)).quality.brightness
    dark = np.clip(image * gain, 0, 255).astype(np.uint8)
    found = crop_face(dark, min_eye_distance_px=0.0)
    if not found.ok:
        assert found.reason in ("no_face", "low_face_score")  # too dark to find: refused before the quality check
        return
    assert judge_capture(dark, found.detection.box, found.detection.keypoints, LIMITS).reason == RETAKE_DARK


def test_a_face_with_too_few_pixels_asks_for_a_retake():
    image = capture(astronaut(), 11)
    eye = judged(image).quality.eye_distance_px
    f = 0.8 * LIMITS.min_eye_distance_px / eye
    small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    found = crop_face(small, min_eye_distance_px=0.0)
    if not found.ok:
        pytest.skip(f"the detector no longer finds the face at {f:.2f} scale ({found.reason})")
    assert judge_capture(small, found.detection.box, found.detection.keypoints, LIMITS).reason == RETAKE_TOO_SMALL


# --- through the service, with every shipped model -------------------------------------------


def _enrol(client, person):
    from tests.conftest import jpeg_b64, png_b64
    from tests.fixtures.signatures import make_signature

    return client.post("/api/v1/subjects/astronaut/enrolment", json={
        "face_images": [jpeg_b64(capture(person, s)) for s in (1, 2, 3)],
        "signature_images": [png_b64(make_signature(7, s)) for s in range(4)],
    })


def _verify(client, face):
    from tests.conftest import jpeg_b64, png_b64
    from tests.fixtures.signatures import make_signature

    body = {"subject_id": "astronaut", "device_id": "kiosk", "face_image": jpeg_b64(face), "signature_image": png_b64(make_signature(7, 11))}
    return client.post("/api/v1/verifications?mode=sync", json=body).json()


def test_a_blurred_live_capture_is_asked_to_retake_never_called_a_spoof(client, embedded_services, astronaut):
    """sigma 3 at 512 px: the decision says retake_blurred with the measured sharpness and the limit, and the chain stops."""
    assert _enrol(client, astronaut).status_code == 201
    final = _verify(client, cv2.GaussianBlur(capture(astronaut, 11), (0, 0), 3.0))
    assert (final["status"], final["decision"]["reasons"]) == ("rejected", [RETAKE_BLURRED]), final
    retake = final["decision"]["retake"]
    assert retake["measure"] == "sharpness" and retake["value"] < retake["limit"] == LIMITS.min_sharpness
    crop = final["steps"]["face-crop"]["result"]
    assert crop["retake"] == retake and crop["quality"]["limits_version"] == LIMITS.version
    assert "antispoof" not in final["steps"] and "crops" not in crop
    assert_conforms(final, "Verification")  # the retake and quality fields are named in the API description


@pytest.mark.parametrize("sigma, gain", [(0.0, 0.15), (1.5, 0.3), (2.0, 1.0), (3.0, 0.5), (0.0, 2.5)])
def test_a_blurred_dim_or_glaring_print_is_never_accepted(client, embedded_services, astronaut, sigma, gain):
    from tests.fixtures.spoof import make_print_attack

    assert _enrol(client, astronaut).status_code == 201
    attack = make_print_attack(capture(astronaut, 12), seed=3).astype(np.float32)
    if sigma:
        attack = cv2.GaussianBlur(attack, (0, 0), sigma)
    attack = np.clip(attack * gain, 0, 255).astype(np.uint8)
    final = _verify(client, attack)
    assert final["status"] != "accepted", final
    assert (final["steps"].get("antispoof") or {}).get("result", {}).get("label") != "live", final


def test_a_sharp_capture_records_its_quality_and_goes_on(client, embedded_services, astronaut):
    assert _enrol(client, astronaut).status_code == 201
    final = _verify(client, capture(astronaut, 11))
    crop = final["steps"]["face-crop"]["result"]
    assert crop["reason"] is None and crop["quality"]["retakes"] == [] and crop["quality"]["measures"]["sharpness"] >= LIMITS.min_sharpness
    assert "antispoof" in final["steps"] and not final["decision"].get("retake"), final


@pytest.mark.parametrize("attack", ["print", "screen"])
def test_the_soft_simulated_recaptures_are_sent_back_for_a_retake_before_any_judgement(client, embedded_services, astronaut, attack):
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    assert _enrol(client, astronaut).status_code == 201
    face = {"print": make_print_attack(capture(astronaut, 12), seed=3), "screen": make_screen_replay(capture(astronaut, 12), seed=0)}[attack]
    final = _verify(client, face)
    assert final["status"] == "rejected" and final["decision"]["reasons"][0].startswith("retake_"), final
