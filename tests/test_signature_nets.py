"""Signature network definitions and augmentation presets: shapes, sizes, ablation names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from model_export.signature_augment import AugmentConfig  # noqa: E402
from model_export.signature_nets import PairSignatureCNN, PaperSignatureCNN, count_parameters  # noqa: E402


def test_pair_networks_take_a_two_channel_pair_and_return_one_logit():
    for net, size in ((PaperSignatureCNN(), (64, 128)), (PairSignatureCNN(), (64, 128)), (PairSignatureCNN(), (96, 192))):
        assert net.eval()(torch.zeros(3, 2, *size)).shape == (3,)
    assert 1e5 < count_parameters(PairSignatureCNN()) < 5e5  # a few hundred k: still quick to serve


def test_augmentation_presets_and_ablations():
    assert AugmentConfig.named("full") == AugmentConfig()
    assert AugmentConfig.named("none") == AugmentConfig(False, False, False, False)
    assert AugmentConfig.named("natural") == AugmentConfig(forgery_like=False)
    assert AugmentConfig.named("full-elastic") == AugmentConfig(elastic=False)
    assert AugmentConfig.named("natural-affine-stroke_width") == AugmentConfig(affine=False, stroke_width=False, forgery_like=False)
    for bad in ("most", "full-blur"):
        with pytest.raises(ValueError):
            AugmentConfig.named(bad)
