"""The shipped signature network and the augmentation presets: shapes, size, preset names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")

signature_augment = pytest.importorskip("model_export.signature.augment")
signature_nets = pytest.importorskip("model_export.signature.nets")


def test_the_paper_cnn_takes_a_two_channel_pair_and_returns_one_logit():
    net = signature_nets.PaperSignatureCNN().eval()
    assert net(torch.zeros(3, 2, 64, 128)).shape == (3,)
    assert signature_nets.count_parameters(net) == 34_937  # as shipped (models/signature/manifest.json)
    with torch.no_grad():
        probability = float(signature_nets.SigmoidOutput(net)(torch.zeros(1, 2, 64, 128)))
    assert 0.0 < probability < 1.0


def test_augmentation_presets_and_ablations():
    assert signature_augment.AugmentConfig.named("full") == signature_augment.AugmentConfig()
    assert signature_augment.AugmentConfig.named("none") == signature_augment.AugmentConfig(False, False, False, False)
    assert signature_augment.AugmentConfig.named("natural") == signature_augment.AugmentConfig(forgery_like=False)
    assert signature_augment.AugmentConfig.named("full-elastic") == signature_augment.AugmentConfig(elastic=False)
    assert signature_augment.AugmentConfig.named("natural-affine-stroke_width") == signature_augment.AugmentConfig(affine=False, stroke_width=False, forgery_like=False)
    for bad in ("most", "full-blur"):
        with pytest.raises(ValueError):
            signature_augment.AugmentConfig.named(bad)
