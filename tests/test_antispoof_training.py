"""Training the shipped anti-spoofing model: the LBP graph, its SVM export, person-disjoint scoring, reviewed faces; the MiniFASNet baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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
    """The ONNX graph's live output equals the Platt sigmoid of scikit-learn's SVM decision."""
    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    from model_export.antispoof.lbp_svm import LBPSVM, LBPFeatures, WithSoftmax
    from model_export.antispoof.train import decision, fit_svm, lbp_spec
    from model_export.common.onnx_export import export_onnx

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
    spec = lbp_spec()
    export_onnx(WithSoftmax(net), tmp_path / "model.onnx", input_name=spec.name, input_shape=(1, 64, 64), output_name="probs")
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
    from tests.fixtures.photos import astronaut, capture
    from tests.fixtures.spoof import make_print_attack

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


@pytest.mark.skipif(not (SHARED / "minifasnet").is_dir(), reason="../shared/data/minifasnet is absent")
def test_minifasnet_baseline_weights_load_and_separate_upstream_samples():
    import cv2

    from functions.imaging.face_detection import detect_faces
    from model_export.antispoof.evaluate import baseline_scores

    samples = SHARED / "minifasnet" / "samples"
    files = ["image_T1.jpg", "image_F1.jpg", "image_F2.jpg"]
    boxes = [detect_faces(np.ascontiguousarray(cv2.imread(str(samples / f))[:, :, ::-1]))[0].box for f in files]
    live, *attacks = baseline_scores(samples, "samples", files, np.asarray(boxes), SHARED / "minifasnet")
    assert live > 0.5
    assert all(a < 0.5 for a in attacks)
