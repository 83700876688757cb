"""EdgeFace-XS definition: the authors' int8 dynamic-quantised state-dict layout loads into it, and the export is sound."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_export.face.edgeface_net import EdgeFaceXS, dequantised_state_dict  # noqa: E402


def quantised_copy(net):
    """A state dict shaped like the published checkpoint: our module through torch's dynamic int8 quantisation."""
    return torch.quantization.quantize_dynamic(net, qconfig_spec={torch.nn.Linear}, dtype=torch.qint8).state_dict()


def test_quantised_state_dict_loads_into_the_definition_and_keeps_the_network():
    torch.manual_seed(0)
    net = EdgeFaceXS().eval()
    for block in net.modules():  # layer scales of 1 instead of tiny: every branch counts in the output
        if hasattr(block, "gamma"):
            block.gamma.data.fill_(1.0)
    loaded = EdgeFaceXS().eval()
    loaded.load_state_dict(dequantised_state_dict(quantised_copy(net)), strict=True)
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        a, b = net(x), loaded(x)
    assert a.shape == (2, 512)
    cos = torch.nn.functional.cosine_similarity(a, b)
    assert float(cos.min()) > 0.99  # only the int8 rounding of the Linear weights separates them


def test_onnx_export_matches_the_module(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(1)
    net = EdgeFaceXS().eval()
    path = tmp_path / "edgeface.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), input_names=["data"], output_names=["embedding"],
                      opset_version=17, dynamo=False)
    x = (np.random.default_rng(0).random((1, 3, 112, 112), dtype=np.float32) * 2 - 1)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"data": x})[0]
    assert np.abs(expected - got).max() < 1e-4
