"""Signature network definitions and augmentation presets: shapes, sizes, ablation names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

signature_augment = pytest.importorskip("model_export.signature.augment")
signature_nets = pytest.importorskip("model_export.signature.nets")


def test_pair_networks_take_a_two_channel_pair_and_return_one_logit():
    for net, size in ((signature_nets.PaperSignatureCNN(), (64, 128)), (signature_nets.PairSignatureCNN(), (64, 128)), (signature_nets.PairSignatureCNN(), (96, 192))):
        assert net.eval()(torch.zeros(3, 2, *size)).shape == (3,)
    assert 1e5 < signature_nets.count_parameters(signature_nets.PairSignatureCNN()) < 5e5  # a few hundred k: still quick to serve


def test_augmentation_presets_and_ablations():
    assert signature_augment.AugmentConfig.named("full") == signature_augment.AugmentConfig()
    assert signature_augment.AugmentConfig.named("none") == signature_augment.AugmentConfig(False, False, False, False)
    assert signature_augment.AugmentConfig.named("natural") == signature_augment.AugmentConfig(forgery_like=False)
    assert signature_augment.AugmentConfig.named("full-elastic") == signature_augment.AugmentConfig(elastic=False)
    assert signature_augment.AugmentConfig.named("natural-affine-stroke_width") == signature_augment.AugmentConfig(affine=False, stroke_width=False, forgery_like=False)
    for bad in ("most", "full-blur"):
        with pytest.raises(ValueError):
            signature_augment.AugmentConfig.named(bad)
