"""The signature feature network: input and output shapes, unit-length features, size."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")
nets = pytest.importorskip("model_export.signature.nets")


def test_feature_net_maps_a_canvas_batch_to_unit_features():
    net = nets.SignatureFeatureNet().eval()
    x = torch.rand(3, 1, nets.INPUT_HEIGHT, nets.INPUT_WIDTH)
    with torch.no_grad():
        f = net(x)
    assert f.shape == (3, nets.EMBEDDING)
    assert torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)
    assert nets.count_parameters(net) < 2_000_000  # a few MB of ONNX: far under the 20 MB budget


def test_margin_head_prefers_the_true_class():
    head = nets.MarginClassifier(4, 2, margin=0.25)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2, 4))
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0, 0]]), dim=1)
    with torch.no_grad():
        assert float(head(emb, torch.tensor([0]))) < float(head(emb, torch.tensor([1])))


def test_ensemble_reads_each_members_channels_and_gives_one_unit_feature():
    grey, both = nets.SignatureFeatureNet().eval(), nets.SignatureFeatureNet(in_channels=2).eval()
    pair = nets.FeatureEnsemble([grey, both], [[0], [0, 1]]).eval()
    x = torch.rand(2, 2, nets.INPUT_HEIGHT, nets.INPUT_WIDTH)
    with torch.no_grad():
        f = pair(x)
        assert f.shape == (2, 2 * nets.EMBEDDING)
        assert torch.allclose(f.norm(dim=1), torch.ones(2), atol=1e-5)
        # member 1 sees channel 0 only: changing channel 1 moves only member 2's half
        y = x.clone()
        y[:, 1] = 0
        g = pair(y)
    first = slice(0, nets.EMBEDDING)
    a, b = f[:, first] / f[:, first].norm(dim=1, keepdim=True), g[:, first] / g[:, first].norm(dim=1, keepdim=True)
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(f, g, atol=1e-3)
    checkpoint = {"members": [{"net": grey.state_dict(), "in_channels": 1, "channels": [0]},
                              {"net": both.state_dict(), "in_channels": 2, "channels": [0, 1]}]}
    with torch.no_grad():
        assert torch.allclose(nets.network_from_checkpoint(checkpoint).eval()(x), f, atol=1e-6)


def test_writer_copies_are_the_image_mirrored_upside_down_and_turned():
    train = pytest.importorskip("model_export.signature.train")
    image = torch.arange(6.0).reshape(1, 1, 2, 3)
    x = image.repeat(4, 1, 1, 1)
    drawn = train.draw_copies(x.clone(), torch.tensor([0, 1, 2, 3]))
    assert torch.equal(drawn[0], image[0])
    assert torch.equal(drawn[1, 0, 0], torch.tensor([2.0, 1.0, 0.0]))  # mirrored left to right
    assert torch.equal(drawn[2, 0, 0], torch.tensor([3.0, 4.0, 5.0]))  # upside down
    assert torch.equal(drawn[3], torch.rot90(image[0], 2, dims=(1, 2)))  # half a turn
