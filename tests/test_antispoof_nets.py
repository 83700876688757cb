"""Network definitions: shapes, parameter counts, the AM-Softmax margin, and the MiniFASNet baseline weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

antispoof_nets = pytest.importorskip("model_export.antispoof.nets")

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def test_resnet_variants_shapes_and_sizes():
    x = torch.zeros(2, 3, 128, 128)
    compact = antispoof_nets.build_antispoof_net("resnet18_compact", head="amsoftmax").eval()
    assert compact(x).shape == (2, 2)
    assert 3e5 < sum(p.numel() for p in compact.parameters()) < 3e6
    full = antispoof_nets.build_antispoof_net("resnet18").eval()
    assert 11e6 < sum(p.numel() for p in full.parameters()) < 12e6


def test_am_softmax_margin_only_in_training():
    torch.manual_seed(0)
    head = antispoof_nets.AMSoftmaxHead(8, 2, scale=10.0, margin=0.3)
    emb, y = torch.randn(4, 8), torch.tensor([0, 1, 0, 1])
    head.train()
    with_margin = head(emb, y)
    head.eval()
    plain = head(emb, y)
    diff = (plain - with_margin).detach().numpy()
    assert np.allclose(diff[np.arange(4), y.numpy()], 3.0, atol=1e-5)  # scale * margin on the true class
    assert np.allclose(diff[np.arange(4), 1 - y.numpy()], 0.0, atol=1e-6)


def test_similarity_loss_prefers_class_clusters():
    y = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0], [0.01, 1.0]])
    mixed = torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0.01], [0.01, 1.0]])
    assert float(antispoof_nets.similarity_loss(clustered, y)) < 0.05 < 0.5 < float(antispoof_nets.similarity_loss(mixed, y))


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
