"""The anti-spoofing step with the shipped ensemble: manifest, parity, zones, real live and attack photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from functions.biometrics.liveness import BoxMapping, member_crops, members_of
from functions.biometrics.face_detection import detect_faces, scaled_box_crop
from functions.manifests import sha256_file
from functions.onnx_models import load_model
from functions.biometrics.liveness import AntispoofResult, InvalidContextCrop, check_liveness, check_photo, label_for, live_scores
from tests.fixtures.photos import astronaut, grace_hopper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SHARED = ROOT.parent / "shared" / "data"
NUAA = SHARED / "nuaa"
FIXTURE = ROOT / "tests" / "fixtures" / "antispoof_reference.json"


@pytest.fixture(scope="module")
def model():
    return load_model("antispoof", MODELS)


def score_photo(image_rgb: np.ndarray, model) -> AntispoofResult:
    faces = detect_faces(np.ascontiguousarray(image_rgb))
    assert faces, "no face found"
    return check_photo(image_rgb, faces[0].box, model)


def test_zones():
    t = {"live": 0.8, "spoof": 0.2}
    assert label_for(0.8, t) == "live"
    assert label_for(0.99, t) == "live"
    assert label_for(0.5, t) == "uncertain"
    assert label_for(0.2, t) == "spoof"
    assert label_for(0.0, t) == "spoof"


def test_record_is_json_and_says_what_the_score_means():
    r = AntispoofResult(label="spoof", score=0.0123456789, thresholds={"live": 0.9, "spoof": 0.1}, model_version="v1",
                        member_scores={"a": 0.01, "b": 0.0146913578})
    rec = json.loads(json.dumps(r.to_record()))
    assert rec["label"] == "spoof" and rec["score"] == pytest.approx(0.012346)
    assert rec["score_meaning"] == "probability of live"
    assert rec["member_scores"]["b"] == pytest.approx(0.014691) and rec["model_version"] == "v1"
    assert not r.is_live


def test_box_mapping_moves_and_scales_about_the_centre():
    m = BoxMapping(dx=0.1, dy=-0.2, sw=2.0, sh=0.5)
    x, y, w, h = m.apply((10.0, 20.0, 100.0, 50.0))
    assert (x + w / 2, y + h / 2) == pytest.approx((60.0 + 10.0, 45.0 - 10.0))
    assert (w, h) == pytest.approx((200.0, 25.0))
    assert BoxMapping().apply((1.0, 2.0, 3.0, 4.0)) == pytest.approx((1.0, 2.0, 3.0, 4.0))


def test_scaled_box_crop_stays_inside_the_frame():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :100] = 255  # left half white
    # A box near the left edge: the crop shifts right rather than padding, so it holds no invented pixels.
    crop = scaled_box_crop(image, (0.0, 30.0, 40.0, 40.0), scale=2.0, size=20)
    assert crop.shape == (20, 20, 3)
    assert crop.min() == 255  # 80 px wide from x=0: all inside the white half
    # Larger than the frame: the scale shrinks to fit, the crop covers the whole height.
    whole = scaled_box_crop(image, (90.0, 40.0, 20.0, 20.0), scale=10.0, size=10)
    assert whole.shape == (10, 10, 3)


def test_manifest_is_complete_and_matches_the_file(model):
    m = model.manifest
    folder = MODELS / "antispoof"
    assert m.name == "antispoof"
    assert sha256_file(folder / m.file) == m.sha256
    assert 0.0 <= m.thresholds["spoof"] <= m.thresholds["live"] <= 1.0
    members = members_of(m)
    assert [x.crop_scale for x in members] == [2.7, 4.0]
    assert all(x.input.height == x.input.width == 80 and x.input.color == "BGR" for x in members)
    assert sum(x.weight for x in members) == pytest.approx(1.0)
    assert set(m.extra["box_mapping"]) >= {"dx", "dy", "sw", "sh", "fitted_on"}
    assert m.extra["licence"] == "Apache-2.0"
    assert "Apache License" in (folder / m.extra["licence_file"]).read_text()
    assert m.extra["parity"]["max_abs_softmax_onnx_vs_reference"] < 1e-5
    assert "dev" in m.metrics and "NUAA train" in m.calibration["data"]
    assert (folder / m.file).stat().st_size < 15e6


def test_parity_with_the_reference_forward_pass(model):
    """Our graph against the reference implementation's softmax, stored for crops any machine can rebuild."""
    from model_export.antispoof.convert import fixture_photo

    fixture = json.loads(FIXTURE.read_text())
    members = members_of(model.manifest)
    assert [m.name for m in members] == fixture["members"]
    worst = 0.0
    for item in fixture["items"]:
        image = fixture_photo(item["photo"])
        crops = {m.crop_name: scaled_box_crop(image, tuple(item["box"]), scale=m.crop_scale, size=80) for m in members}
        feeds = {m.input.name: m.input.to_tensor([crops[m.crop_name][:, :, ::-1]]) for m in members}
        probs = model.run_feeds(feeds)[0][0]
        worst = max(worst, float(np.abs(probs - np.asarray(item["softmax"])).max()))
    assert worst < 1e-5


def test_rejects_crops_that_do_not_fit_the_members(model):
    good = member_crops(astronaut(), (178.0, 83.0, 95.0, 95.0), model.manifest)
    name = next(iter(good))
    with pytest.raises(InvalidContextCrop):
        check_liveness({**good, name: np.zeros((128, 128, 3), np.uint8)}, model)
    with pytest.raises(InvalidContextCrop):
        check_liveness({k: v for k, v in good.items() if k != name}, model)


def test_the_astronaut_photo_is_accepted_as_live(model):
    result = score_photo(astronaut(), model)
    assert result.label == "live", result
    assert result.model_version == model.version
    assert set(result.member_scores) == {m.name for m in members_of(model.manifest)}


def test_grace_hoppers_portrait_goes_to_review_not_rejected(model):
    """A scan of an old printed photograph: a person decides (see the model card), the service does not reject it."""
    assert score_photo(grace_hopper(), model).label == "uncertain"


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("attack", ["print", "screen"])
def test_simulated_attacks_of_the_sample_photo_are_not_accepted(model, attack, seed):
    from tests.fixtures.photos import capture
    from tests.fixtures.spoof import ATTACKS

    assert score_photo(ATTACKS[attack](capture(astronaut(), 12), seed=seed), model).label != "live"


def test_batch_and_single_scores_agree(model):
    crops = [member_crops(p, detect_faces(p)[0].box, model.manifest) for p in (astronaut(), grace_hopper())]
    batch = live_scores(crops, model)
    single = [check_liveness(c, model).score for c in crops]
    assert np.allclose(batch, single, atol=1e-6)


def _read(path: Path) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


def _nuaa_sample(label: str, n: int) -> list[Path]:
    files = sorted((NUAA / "dev" / label).glob("*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


@pytest.mark.skipif(not NUAA.is_dir(), reason="NUAA data (../shared/data/nuaa) is absent")
def test_nuaa_dev_live_faces_pass_and_prints_are_stopped(model):
    """Real webcam photos through detection, member crops and the step, at the manifest's zones."""
    labels = {"live": [], "spoof": []}
    for label in labels:
        for path in _nuaa_sample(label, 15):
            labels[label].append(score_photo(_read(path), model).label)
    assert labels["live"].count("live") >= 14, labels["live"]
    assert "spoof" not in labels["live"] and "live" not in labels["spoof"], labels
    assert labels["spoof"].count("spoof") >= 14, labels["spoof"]


@pytest.mark.skipif(not (SHARED / "minifasnet" / "samples").is_dir(), reason="upstream samples (../shared/data/minifasnet) are absent")
def test_upstream_samples(model):
    samples = SHARED / "minifasnet" / "samples"
    assert score_photo(_read(samples / "image_T1.jpg"), model).label == "live"
    for name in ("image_F1.jpg", "image_F2.jpg"):
        assert score_photo(_read(samples / name), model).label != "live", name


@pytest.mark.skipif(not (SHARED / "pad_samples").is_dir(), reason="screen-replay sample (../shared/data/pad_samples) is absent")
def test_the_screen_replay_sample_is_not_accepted(model):
    assert score_photo(_read(SHARED / "pad_samples" / "screen_replay_hyperfas.png"), model).label != "live"


@pytest.mark.slow
@pytest.mark.skipif(not NUAA.is_dir(), reason="NUAA data (../shared/data/nuaa) is absent")
def test_nuaa_dev_figures_match_the_manifest(model):
    """Dataset-wide: every dev photo through detection and the step gives the ACER and zones the manifest reports."""
    from model_export.antispoof.scoring import first_face_box
    from model_export.common.metrics import error_rates, three_zone_rates

    scores, labels = [], []
    for label, name in ((1, "live"), (0, "spoof")):
        for path in sorted((NUAA / "dev" / name).glob("*/*.jpg")):
            rgb = _read(path)
            box = first_face_box(rgb)  # the evaluation's detection: the service detector at the configured score
            if box is not None:
                scores.append(check_photo(rgb, box, model).score)
                labels.append(label)
    scores, labels = np.asarray(scores), np.asarray(labels)
    dev = model.manifest.metrics["dev"]
    t = model.manifest.thresholds
    assert error_rates(scores, labels, t["operating"]).acer == pytest.approx(dev["acer"], abs=1e-9)
    assert three_zone_rates(scores, labels, t["live"], t["spoof"]) == pytest.approx(dev["three_zone"], abs=1e-9)
