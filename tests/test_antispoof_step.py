"""The anti-spoofing step with the shipped model: zones, record, input checks, live demo photos, NUAA dev images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from functions.imaging.face_detection import context_crop, detect_faces
from functions.manifests import sha256_file
from functions.runtime.models import load_model
from functions.steps.antispoof import AntispoofResult, InvalidContextCrop, check_liveness, label_for, live_scores
from functions.steps.face_crop import context_scale_for
from tests.fixtures.photos import astronaut, grace_hopper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
NUAA = ROOT.parent / "shared" / "data" / "nuaa"


@pytest.fixture(scope="module")
def model():
    return load_model("antispoof", MODELS)


def crop_of(image_rgb: np.ndarray) -> np.ndarray:
    faces = detect_faces(np.ascontiguousarray(image_rgb))
    assert faces, "no face found"
    return context_crop(image_rgb, faces[0].box, scale=context_scale_for(load_model("antispoof", MODELS)))


def test_a_score_is_live_at_or_above_the_live_edge_spoof_at_or_below_the_spoof_edge_else_uncertain():
    t = {"live": 0.8, "spoof": 0.2}
    assert label_for(0.8, t) == "live"
    assert label_for(0.99, t) == "live"
    assert label_for(0.5, t) == "uncertain"
    assert label_for(0.2, t) == "spoof"
    assert label_for(0.0, t) == "spoof"


def test_record_is_json_and_says_what_the_score_means():
    r = AntispoofResult(label="spoof", score=0.0123456789, thresholds={"live": 0.9, "spoof": 0.1}, model_version="v1")
    rec = json.loads(json.dumps(r.to_record()))
    assert rec["label"] == "spoof" and rec["score"] == pytest.approx(0.012346)
    assert rec["score_meaning"] == "probability of live"
    assert not r.is_live


def test_manifest_is_complete_and_matches_the_file(model):
    m = model.manifest
    assert m.name == "antispoof"
    assert sha256_file(MODELS / "antispoof" / m.file) == m.sha256
    assert 0.0 <= m.thresholds["spoof"] <= m.thresholds["operating"] <= m.thresholds["live"] <= 1.0
    assert m.input.height == m.input.width > 0 and m.input.color in ("RGB", "BGR", "GRAY")
    assert m.extra["context_scale"] > 0
    assert "validation" in m.metrics and "dev" in m.metrics
    assert (MODELS / "antispoof" / "model.onnx").stat().st_size < 25e6


def test_rejects_a_crop_of_the_wrong_size(model):
    with pytest.raises(InvalidContextCrop):
        check_liveness(np.zeros((128, 128, 3), np.uint8), model)
    with pytest.raises(InvalidContextCrop):
        check_liveness(np.zeros((256, 256), np.uint8), model)


@pytest.mark.parametrize("photo", [astronaut, grace_hopper], ids=["astronaut", "grace_hopper"])
def test_demo_photos_get_a_complete_result(model, photo):
    result = check_liveness(crop_of(photo()), model)
    assert result.label in ("live", "spoof", "uncertain")
    assert 0.0 <= result.score <= 1.0
    assert result.model_version == model.version
    assert result.thresholds == {"live": model.manifest.thresholds["live"], "spoof": model.manifest.thresholds["spoof"]}


@pytest.mark.parametrize("photo", [astronaut, grace_hopper], ids=["astronaut", "grace_hopper"])
def test_live_demo_photos_are_not_called_spoofs(model, photo):
    assert check_liveness(crop_of(photo()), model).label != "spoof"


@pytest.mark.xfail(
    strict=True,
    reason="known limit of the shipped model: fitted on NUAA webcam faces, it puts this studio portrait in the uncertain "
    "band (see models/antispoof/MODEL_CARD.md); remove this mark when a model passes",
)
def test_the_astronaut_portrait_is_clearly_live(model):
    assert check_liveness(crop_of(astronaut()), model).label == "live"


def test_a_simulated_print_of_the_astronaut_is_not_accepted(model):
    from tests.fixtures.photos import capture
    from tests.fixtures.spoof import make_print_attack

    for seed in (0, 3):
        assert check_liveness(crop_of(make_print_attack(capture(astronaut(), 12), seed=seed)), model).label != "live"


@pytest.mark.xfail(
    strict=True,
    reason="known limit of the shipped model: Grace Hopper's portrait is an old, grainy photograph and its simulated print "
    "keeps the grain that grey-texture features read as skin (see models/antispoof/MODEL_CARD.md)",
)
def test_a_simulated_print_of_grace_hopper_is_not_accepted(model):
    from tests.fixtures.spoof import make_print_attack

    assert check_liveness(crop_of(make_print_attack(grace_hopper(), seed=0)), model).label != "live"


def test_batch_and_single_scores_agree(model):
    crops = [crop_of(astronaut()), crop_of(grace_hopper())]
    batch = live_scores(crops, model)
    single = [check_liveness(c, model).score for c in crops]
    assert np.allclose(batch, single, atol=1e-5)


def _nuaa_sample(label: str, n: int) -> list[Path]:
    files = sorted((NUAA / "dev" / label).glob("*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


@pytest.mark.skipif(not NUAA.is_dir(), reason="NUAA data (../shared/data/nuaa) is absent")
def test_on_nuaa_dev_photos_most_live_pass_most_prints_stop_and_no_print_is_labelled_live(model):
    """Real webcam photos through detection, context crop and the step.

    The bar is the shipped model's measured level (see the report), not the
    product target: at the operating threshold most live faces pass and most
    prints are stopped; with three zones no print is accepted and no live
    face rejected outright (the uncertain ones go to a person); live faces
    score higher than prints.
    """
    import cv2

    labels, scores = {}, {}
    for label in ("live", "spoof"):
        for path in _nuaa_sample(label, 12):
            rgb = cv2.imread(str(path))[:, :, ::-1].copy()
            result = check_liveness(crop_of(rgb), model)
            labels.setdefault(label, []).append(result.label)
            scores.setdefault(label, []).append(result.score)
    operating = model.manifest.thresholds["operating"]
    assert sum(s >= operating for s in scores["live"]) >= 10, scores["live"]
    assert sum(s < operating for s in scores["spoof"]) >= 10, scores["spoof"]
    assert "spoof" not in labels["live"] and "live" not in labels["spoof"], labels
    assert np.median(scores["live"]) > np.median(scores["spoof"])


@pytest.mark.slow
@pytest.mark.skipif(not NUAA.is_dir(), reason="NUAA data (../shared/data/nuaa) is absent")
def test_nuaa_dev_acer_matches_the_report(model):
    """Dataset-wide: the whole dev split scored again gives the ACER the manifest reports."""
    from model_export.antispoof.data import DEFAULT_CACHE, ensure_cache, load_split
    from model_export.common.metrics import error_rates

    cache = ensure_cache(NUAA, DEFAULT_CACHE, splits=("dev",), scale=context_scale_for(model))
    dev = load_split(cache, "dev", mmap=True)
    scores = np.concatenate([live_scores([np.asarray(c) for c in dev.crops[i : i + 64]], model) for i in range(0, len(dev), 64)])
    point = error_rates(scores, dev.labels, model.manifest.thresholds["operating"])
    assert point.acer == pytest.approx(model.manifest.metrics["dev"]["acer"], abs=1e-9)
