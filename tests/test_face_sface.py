"""The SFace face path: alignment to its five-point geometry, parity with OpenCV's reference, matching and cancelable templates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.faces import FACES_DIR, REPO_ROOT, read_rgb
from tests.fixtures.photos import astronaut, capture, grace_hopper

from functions.biometrics.face_detection import crop_face
from functions.biometrics.face_alignment import (
    SFACE_FIVE_POINTS,
    ChipGeometry,
    chip_transform,
    sface_geometry,
    similarity_transform,
    warp_to_chip,
)
from functions.crypto.template_protection import new_subject_token, protect_embedding, protected_to_vector
from functions.biometrics.face_matching import ACCEPT, REJECT, FaceBands, match_face

SFACE_DIR = REPO_ROOT / "models" / "face_sface"
SECRET = b"s" * 32


def sface_model_or_skip():
    from functions.onnx_models import OnnxModel

    if not (SFACE_DIR / "model.onnx").is_file():
        pytest.skip(f"{SFACE_DIR} is not installed (python -m model_export face fetch, then face ship)")
    return OnnxModel(SFACE_DIR)


def photos() -> list[np.ndarray]:
    images = [astronaut(), grace_hopper()]
    for name in ("img1.jpg", "img4.jpg", "img17.jpg", "img22.jpg"):  # img4 is 2500x1728: the chip comes from the full image
        if (FACES_DIR / name).is_file():
            images.append(read_rgb(FACES_DIR / name))
    return images


def five_points(keypoints: dict) -> np.ndarray:
    """Eyes and nose from MediaPipe, mouth corners placed either side of its mouth centre along the eye line."""
    re, le = np.array(keypoints["right_eye"]), np.array(keypoints["left_eye"])
    mouth = np.array(keypoints["mouth_center"])
    half = (le - re) * 0.42
    return np.array([re, le, keypoints["nose_tip"], mouth - half, mouth + half], dtype=np.float64)


def test_geometry_is_sfaces_reference_with_the_mouth_centre_between_its_corners():
    g = sface_geometry()
    assert g.size == 112 and not g.antialias
    places = dict(SFACE_FIVE_POINTS)
    assert np.allclose(np.array(g.reference["right_eye"]) * 112, places["right_eye"])
    mid = (np.array(places["mouth_right"]) + np.array(places["mouth_left"])) / 2
    assert np.allclose(np.array(g.reference["mouth_center"]) * 112, mid)
    again = ChipGeometry.from_dict(g.to_dict())
    assert again.antialias is False and again.reference.keys() == g.reference.keys()


def test_a_real_face_lands_on_the_reference_places():
    found = crop_face(astronaut(), chip_spec=sface_geometry())
    assert found.ok and found.chip.shape == (112, 112, 3)
    m = chip_transform(found.detection.keypoints, sface_geometry())
    for name in ("right_eye", "left_eye", "nose_tip", "mouth_center"):
        u, v = m @ np.array([*found.detection.keypoints[name], 1.0])
        rx, ry = sface_geometry().reference[name]
        assert abs(u - rx * 112) < 4 and abs(v - ry * 112) < 4, name
    # A rotated copy of the photo gives (nearly) the same chip: the alignment undoes the rotation.
    import cv2

    a = astronaut()
    h, w = a.shape[:2]
    rotated = cv2.warpAffine(a, cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT)
    again = crop_face(rotated, chip_spec=sface_geometry())
    diff = np.abs(again.chip.astype(int) - found.chip.astype(int))[20:92, 20:92]
    assert np.median(diff) < 12


def test_exact_points_are_mapped_exactly():
    ref = np.array([p for _, p in SFACE_FIVE_POINTS])
    src = ref * 3.0 + np.array([40.0, 25.0])  # the same face three times larger and shifted
    m = similarity_transform(src, ref)
    assert np.allclose(np.c_[src, np.ones(5)] @ m.T, ref, atol=1e-9)


def test_parity_with_opencv_face_recognizer_sf():
    """Fed the same five points, our chip + onnxruntime give OpenCV's alignCrop + feature embedding."""
    import cv2

    if not hasattr(cv2, "FaceRecognizerSF"):
        pytest.skip("this OpenCV build has no FaceRecognizerSF (opencv-contrib-python-headless)")
    model = sface_model_or_skip()
    reference = cv2.FaceRecognizerSF.create(str(SFACE_DIR / "model.onnx"), "")
    dst = np.array([p for _, p in SFACE_FIVE_POINTS])
    for image in photos():
        found = crop_face(image)
        assert found.ok
        points = five_points(found.detection.keypoints)
        row = np.zeros((1, 15), np.float32)
        row[0, :4] = found.detection.box
        row[0, 4:14] = points.ravel()
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        theirs = reference.feature(reference.alignCrop(bgr, row)).ravel()
        chip = warp_to_chip(image, similarity_transform(points, dst), 112, antialias=False)
        ours = model.run_images([chip])[0].ravel()
        cos = float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs))
        assert 1.0 - cos < 1e-3


@pytest.fixture(scope="module")
def embeddings():
    """Unit SFace embeddings through the service path: astronaut, a re-capture of it, Grace Hopper."""
    from functions.biometrics.face_alignment import ChipGeometry
    from functions.biometrics.face_matching import embed_face

    model = sface_model_or_skip()
    geometry = ChipGeometry.from_manifest(model.manifest)
    chips = [crop_face(im, chip_spec=geometry).chip for im in (astronaut(), capture(astronaut(), 5), grace_hopper())]
    return [embed_face(c, model) for c in chips], model


def test_same_person_accepted_other_person_rejected_at_the_manifest_bands(embeddings):
    from functions.biometrics.face_matching import match_settings

    (a, a2, g), model = embeddings
    assert a.shape == (128,) and abs(np.linalg.norm(a) - 1) < 1e-5
    settings = match_settings(model)
    assert settings["model"] == "face_sface" and settings["bands"].accept > settings["bands"].review
    same, other = match_face(a2, [a], **settings), match_face(g, [a], **settings)
    assert same.band == ACCEPT and same.is_match and same.score > 0.6
    assert other.band == REJECT and not other.is_match and other.score < settings["bands"].review


def test_a_protected_template_matches_as_the_raw_one(embeddings):
    (a, a2, g), model = embeddings
    bands = FaceBands(accept=0.42, review=0.32)
    token = new_subject_token()
    protect = lambda v: protected_to_vector(protect_embedding(v, token, SECRET))
    for probe in (a2, g):
        raw = match_face(probe, [a, a2], bands=bands, model_version="1.0.0")
        safe = match_face(protect(probe), [protect(a), protect(a2)], bands=bands, model_version="1.0.0")
        assert abs(raw.score - safe.score) < 1e-3 and raw.band == safe.band
        assert np.allclose(raw.reference_scores, safe.reference_scores, atol=1e-3)


def test_two_tokens_give_unlinkable_templates(embeddings):
    (a, _, _), _ = embeddings
    p1 = protected_to_vector(protect_embedding(a, new_subject_token(), SECRET))
    p2 = protected_to_vector(protect_embedding(a, new_subject_token(), SECRET))
    bands = FaceBands(accept=0.42, review=0.32)
    # The same face under two tokens scores like two unrelated faces: rejected, near zero.
    across = match_face(p1, [p2], bands=bands, model_version="1.0.0")
    assert across.band == REJECT and abs(across.score) < 0.35
    assert abs(float(np.corrcoef(a, p1)[0, 1])) < 0.5  # nor does the template resemble the embedding
