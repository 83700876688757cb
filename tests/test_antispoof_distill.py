"""Distillation by function matching (mixup labels, the MiniFASNet-shaped student, a training step against the real teachers) and the LBP texture model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

antispoof_nets = pytest.importorskip("model_export.antispoof.nets")
antispoof_train = pytest.importorskip("model_export.antispoof.train_cnn")

TEACHER = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "minifasnet"


def test_mixup_blends_images_and_labels_in_the_same_proportion():
    rng = np.random.default_rng(0)
    images = [np.full((8, 8, 3), 0, np.uint8), np.full((8, 8, 3), 200, np.uint8)]
    mixed, soft = antispoof_train.mix_batch(images, np.array([0, 1]), rng, alpha=0.4)
    for img, y in zip(mixed, soft):
        assert img.dtype == np.uint8 and img.shape == (8, 8, 3)
        # Pixel value / 200 is the share of the live image, which is the soft label.
        assert img.mean() / 200 == pytest.approx(y, abs=0.01)


def test_minifasnet_student_has_the_shared_interface():
    net = antispoof_nets.build_antispoof_net("minifasnet_v1se").eval()
    embedding, maps = net.features_and_maps(torch.zeros(2, 3, 80, 80))
    assert embedding.shape == (2, 128)
    assert [m.shape[1:] for m in maps] == [(64, 20, 20), (128, 10, 10), (128, 5, 5)]
    assert net(torch.zeros(2, 3, 80, 80)).shape == (2, 2)
    assert sum(p.numel() for p in net.parameters()) < 0.5e6


@pytest.mark.skipif(not TEACHER.is_dir(), reason="MiniFASNet teacher weights (../shared/data/minifasnet) are absent")
def test_a_function_matching_step_lowers_its_loss_on_a_fixed_batch():
    from model_export.antispoof.train_cnn import function_matching_step, load_teacher

    torch.manual_seed(0)
    config = json.loads(antispoof_train.DEFAULT_CONFIG.read_text())
    v = config["variants"]["compact_fm_hint_ctx4"]
    fm = {**v["function_matching"], "mixup_p": 0.0}
    spec = antispoof_train.input_spec(config, v)
    teacher = load_teacher(TEACHER, 4.0)
    net = antispoof_nets.build_antispoof_net(v["arch"], head=v["head"])
    projector = torch.nn.Linear(128, 128 * len(teacher))
    adapters = torch.nn.ModuleList([torch.nn.Conv2d(c, t, 1) for c, t in zip((32, 64, 128), (64, 128, 128))])
    params = list(net.parameters()) + list(projector.parameters()) + list(adapters.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (spec.height, spec.width, 3), dtype=np.uint8) for _ in range(4)]
    labels = np.array([0, 1] * 2)
    losses = []
    for _ in range(6):
        loss, label_loss, logits, y = function_matching_step(net, projector, adapters, teacher, images, labels, rng, spec, torch.device("cpu"), fm)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert logits.shape == (4, 2) and y.tolist() == labels.tolist()
    assert losses[-1] < losses[0]


def test_lbp_graph_bins_and_histograms():
    from model_export.antispoof.lbp_svm import LBPFeatures, uniform_lookup

    # Uniform patterns: P*(P-1)+2 bins plus one for the rest.
    assert uniform_lookup(8).max() + 1 == 59
    assert uniform_lookup(16).max() + 1 == 243
    features = LBPFeatures()
    x = torch.randint(0, 256, (2, 1, 64, 64)).float()
    f = features(x)
    assert f.shape == (2, features.size) == (2, 833)
    assert torch.allclose(f.sum(1), torch.full((2,), 11.0), atol=1e-4)
    # LBP only compares grey levels: any increasing change of them leaves the features unchanged.
    assert torch.allclose(features(x * 0.5 + 20), f)
    # A flat face is one pattern (every neighbour >= centre) everywhere.
    flat = features(torch.full((1, 1, 64, 64), 128.0))
    assert int((flat[0, :59] > 0).sum()) == 1


def _faces_with_texture(n: int, rng: np.random.Generator, fine: bool) -> torch.Tensor:
    """Grey 64x64 'faces': a smooth gradient, with pixel-level texture when `fine` (live skin) or blurred (a print)."""
    yy = torch.linspace(60, 190, 64).view(1, 1, 64, 1).expand(n, 1, 64, 64)
    noise = torch.from_numpy(rng.normal(0, 12, (n, 1, 64, 64)).astype(np.float32))
    if not fine:
        noise = torch.nn.functional.avg_pool2d(noise, 5, stride=1, padding=2)
    return (yy + noise).clamp(0, 255)


def test_the_exported_lbp_svm_gives_the_fitted_live_probability(tmp_path):
    """The ONNX graph's live output equals the Platt sigmoid of scikit-learn's SVM decision (an export wrapper once squashed it)."""
    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    from model_export.antispoof.train import decision, fit_svm, lbp_spec
    from model_export.antispoof.lbp_svm import LBPSVM, LBPFeatures
    from model_export.antispoof.train_cnn import export_onnx

    rng = np.random.default_rng(0)
    grey = torch.cat([_faces_with_texture(30, rng, True), _faces_with_texture(30, rng, False)])
    labels = np.array([1] * 30 + [0] * 30)
    with torch.no_grad():
        x = LBPFeatures()(grey).numpy().astype(np.float64)
    scaler, svm = fit_svm(x, labels, 1.0)
    d = decision((scaler, svm), x)
    platt = LogisticRegression(C=1e6).fit(d[:, None], labels)
    net = LBPSVM(LBPFeatures(), scaler.mean_, scaler.scale_, svm.support_vectors_, svm.dual_coef_[0], float(svm.intercept_[0]),
                 float(svm._gamma), float(platt.coef_[0, 0]), float(platt.intercept_[0])).eval()
    export_onnx(net, lbp_spec(), tmp_path / "model.onnx")
    probs = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": grey.numpy()})[0]
    expected = platt.predict_proba(d[:, None])[:, 1]
    assert np.allclose(probs[:, 1], expected, atol=1e-4)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert probs[:30, 1].mean() > 0.9 > 0.1 > probs[30:, 1].mean()  # fine texture reads as live


def test_leave_one_subject_out_scores_each_person_with_a_model_that_never_saw_them():
    """Labels that only a person's own identity feature explains: fitted in-sample they separate, held out they cannot."""
    from model_export.antispoof.train import cross_session_eer, decision, fit_svm, leave_one_subject_out
    from model_export.common.metrics import equal_error_rate

    rng = np.random.default_rng(1)
    subjects = np.repeat([f"{i:04d}" for i in range(6)], 20)
    labels = np.tile(np.repeat([0, 1], 10), 6)
    identity = np.eye(6)[np.repeat(np.arange(6), 20)] * 5.0
    # Each person's live/spoof difference lies along their own direction, so nothing carries to a new person.
    own = identity * np.where(labels == 1, 1.0, -1.0)[:, None]
    x = np.hstack([identity, own]) + rng.normal(0, 0.1, (120, 12))
    in_sample = decision(fit_svm(x, labels, 1.0), x)
    assert equal_error_rate(in_sample, labels)[0] < 0.05
    held_out = leave_one_subject_out(x, labels, subjects, 1.0)
    assert equal_error_rate(held_out, labels)[0] > 0.3
    sessions = np.tile(np.repeat(["01", "02"], 5), 12)
    assert cross_session_eer(x, labels, subjects, sessions, 1.0) > 0.3


def test_reviewed_faces_are_read_from_the_export_layout_and_cropped_like_the_service(tmp_path):
    """export-reviews' antispoof/<live|spoof>/<subject>/ folders become labelled face crops, one person per subject."""
    from PIL import Image

    from model_export.antispoof.data import load_reviewed
    from scripts.demo import capture
    from scripts.sample_photos import astronaut
    from scripts.sample_spoof import make_print_attack

    live, spoof = tmp_path / "antispoof" / "live" / "alice", tmp_path / "antispoof" / "spoof" / "alice"
    live.mkdir(parents=True)
    spoof.mkdir(parents=True)
    Image.fromarray(capture(astronaut(), 1)).save(live / "case1.jpg")
    Image.fromarray(make_print_attack(astronaut(), seed=1)).save(spoof / "case2.png")
    (spoof / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(spoof / "case3.png")  # no face: left out
    reviewed = load_reviewed(tmp_path, scale=1.0)
    assert reviewed.labels.tolist() == [1, 0]
    assert reviewed.subjects.tolist() == ["reviewed-alice", "reviewed-alice"]
    assert reviewed.crops.shape == (2, 256, 256, 3) and reviewed.crops.dtype == np.uint8
