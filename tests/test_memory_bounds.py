"""Memory stays bounded under large images: limits by the header, decoding with reduction, few image steps at once.
(The peak RSS under load is measured by benchmarks/large_images.py.)"""

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import png_b64


def _flat(width: int, height: int, shade: int = 150) -> np.ndarray:
    return np.full((height, width, 3), shade, np.uint8)


@pytest.fixture
def alice(embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    return embedded_services


def test_a_4990_pixel_square_photo_is_refused_by_its_header(client, alice):
    big = png_b64(_flat(4990, 4990))  # a few kilobytes that would decode to 75 MB
    r = client.post("/api/v1/verifications?mode=sync", json={"subject_id": "alice", "device_id": "kiosk", "face_image": big,
                                                             "signature_image": png_b64(_flat(400, 200))})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_many_pixels")
    assert r.json()["error"]["details"]["field"] == "face_image"


def test_a_signature_has_its_own_lower_pixel_limit(client, alice):
    r = client.post("/api/v1/verifications", json={"subject_id": "alice", "device_id": "kiosk", "face_image": png_b64(_flat(640, 480)),
                                                   "signature_image": png_b64(_flat(2100, 2100))})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_many_pixels")
    assert r.json()["error"]["details"]["field"] == "signature_image"


def _encoded(pixels: np.ndarray, fmt: str, orientation: int | None = None) -> bytes:
    im = Image.fromarray(pixels)
    buf = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(buf, format=fmt, exif=exif.tobytes())
    else:
        im.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_images_are_decoded_reduced(fmt):
    from functions.images import MAX_WORKING_SIDE, load_gray, load_rgb

    pixels = _flat(4800, 3000)
    pixels[:, :2400] = (200, 40, 40)  # left half red: the reduction keeps the picture, not just its size
    data = _encoded(pixels, fmt)
    rgb = load_rgb(data)
    assert max(rgb.shape[:2]) <= MAX_WORKING_SIDE and rgb.shape[1] > rgb.shape[0]
    assert abs(rgb.shape[1] / rgb.shape[0] - 1.6) < 0.01
    assert np.abs(rgb[:, : rgb.shape[1] // 4].mean(axis=(0, 1)) - (200, 40, 40)).max() < 6
    assert max(load_gray(data).shape) <= MAX_WORKING_SIDE


def test_reduction_keeps_the_exif_orientation():
    from functions.images import MAX_WORKING_SIDE, load_rgb

    pixels = _flat(4800, 3000)
    pixels[:300] = (0, 0, 255)  # a blue band along the top
    rgb = load_rgb(_encoded(pixels, "JPEG", orientation=6))  # 6: shown turned 90 degrees clockwise
    assert rgb.shape[0] > rgb.shape[1] and max(rgb.shape[:2]) <= MAX_WORKING_SIDE
    assert rgb[:, -5:].mean(axis=(0, 1))[2] > 200  # the top band is now the right edge


def test_small_images_are_decoded_as_they_are():
    from functions.images import load_rgb

    pixels = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert np.array_equal(load_rgb(_encoded(pixels, "PNG")), pixels)


def test_steps_that_decode_images_run_at_most_the_limit_at_once(embedded_services, settings_env):
    from functions.runtime import step_runner
    from functions.runtime.step_runner import Step, StepOutcome, StepTable, run_step
    from functions.messages import StepMessage

    step_runner.reset_image_work()
    running, most = 0, 0
    lock = threading.Lock()

    def heavy(ctx):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return StepOutcome(result={}, branch="done")

    table = StepTable((Step("heavy", "heavy", {"done": None}, heavy, decodes_images=True),))
    messages = []
    for i in range(6):
        embedded_services.records.create("verifications", {"id": f"v{i}", "subject_id": "alice", "status": "queued", "steps": {}})
        messages.append(StepMessage(f"v{i}", "alice").to_json())
    threads = [threading.Thread(target=run_step, args=(table, "heavy", m, 1, embedded_services)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    step_runner.reset_image_work()
    assert most == embedded_services.settings.max_concurrent_image_steps == 2
    assert all(embedded_services.records.get("verifications", f"v{i}")["steps"]["heavy"] for i in range(6))


def test_face_detector_graphs_are_reused_across_threads(monkeypatch):
    """A thread per HTTP connection used to build its own MediaPipe graphs (20 MB each, never freed)."""
    import mediapipe as mp

    from functions.biometrics import face_detection

    monkeypatch.setattr(face_detection, "_detectors", face_detection._DetectorPool())
    built = []
    real = mp.solutions.face_detection.FaceDetection

    def counting(**kwargs):
        built.append(kwargs["model_selection"])
        return real(**kwargs)

    monkeypatch.setattr(mp.solutions.face_detection, "FaceDetection", counting)
    blank = _flat(160, 120)  # no face: both detector ranges run
    for _ in range(6):
        t = threading.Thread(target=face_detection.detect_faces, args=(blank,))
        t.start()
        t.join()
    assert sorted(built) == [0, 1]  # one graph per range, not one per thread
