"""Distillation by function matching (mixup labels, the MiniFASNet-shaped student, a training step against the real teachers) and the LBP texture baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_export.antispoof_nets import build_antispoof_net  # noqa: E402
from model_export.antispoof_train import DEFAULT_CONFIG, input_spec, mix_batch  # noqa: E402

TEACHER = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "minifasnet"


def test_mixup_blends_images_and_labels_in_the_same_proportion():
    rng = np.random.default_rng(0)
    images = [np.full((8, 8, 3), 0, np.uint8), np.full((8, 8, 3), 200, np.uint8)]
    mixed, soft = mix_batch(images, np.array([0, 1]), rng, alpha=0.4)
    for img, y in zip(mixed, soft):
        assert img.dtype == np.uint8 and img.shape == (8, 8, 3)
        # Pixel value / 200 is the share of the live image, which is the soft label.
        assert img.mean() / 200 == pytest.approx(y, abs=0.01)


def test_minifasnet_student_has_the_shared_interface():
    net = build_antispoof_net("minifasnet_v1se").eval()
    embedding, maps = net.features_and_maps(torch.zeros(2, 3, 80, 80))
    assert embedding.shape == (2, 128)
    assert [m.shape[1:] for m in maps] == [(64, 20, 20), (128, 10, 10), (128, 5, 5)]
    assert net(torch.zeros(2, 3, 80, 80)).shape == (2, 2)
    assert sum(p.numel() for p in net.parameters()) < 0.5e6


@pytest.mark.skipif(not TEACHER.is_dir(), reason="MiniFASNet teacher weights (../shared/data/minifasnet) are absent")
def test_a_function_matching_step_lowers_its_loss_on_a_fixed_batch():
    from model_export.antispoof_train import function_matching_step, load_teacher

    torch.manual_seed(0)
    config = json.loads(DEFAULT_CONFIG.read_text())
    v = config["variants"]["compact_fm_hint_ctx4"]
    fm = {**v["function_matching"], "mixup_p": 0.0}
    spec = input_spec(config, v)
    teacher = load_teacher(TEACHER, 4.0)
    net = build_antispoof_net(v["arch"], head=v["head"])
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


def test_lbp_features_are_833_normalised_histograms_of_the_face():
    pytest.importorskip("skimage")
    from model_export.antispoof_lbp import lbp_features

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    f = lbp_features(crop)
    assert f.shape == (833,)
    # 9 block histograms + 2 whole-face ones, each summing to 1.
    assert f.sum() == pytest.approx(11.0, abs=1e-4)
    # Only the face box (the central half at context x2) counts: the border does not change it.
    framed = crop.copy()
    framed[:32] = 0
    assert np.allclose(lbp_features(framed), f)


def test_lbp_graph_bins_and_histograms():
    from model_export.antispoof_lbp_net import LBPFeatures, uniform_lookup

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
