"""LBP texture features and an RBF SVM as one ONNX graph, so the service runs it like any other model.

LBP here is written as tensor operations: each neighbour is a shifted copy of
the grey face, a code is the sum of the neighbours' comparison bits, a lookup
table maps it to its uniform-pattern bin, and a histogram is the mean of a
one-hot map over a region. Training computes its features with this same
module, so what the SVM learnt is exactly what serving computes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MARGIN = 2  # widest neighbourhood radius: codes are computed where every neighbour exists
# Neighbour offsets (dy, dx) in circular order. Radius 2 with 16 points uses the ring of the 5x5 square.
RING_8_1 = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]
RING_8_2 = [(2 * dy, 2 * dx) for dy, dx in RING_8_1]
RING_16_2 = [(0, 2), (-1, 2), (-2, 2), (-2, 1), (-2, 0), (-2, -1), (-2, -2), (-1, -2),
             (0, -2), (1, -2), (2, -2), (2, -1), (2, 0), (2, 1), (2, 2), (1, 2)]


def uniform_lookup(points: int) -> np.ndarray:
    """Code -> bin: each uniform pattern (at most two 0/1 transitions around the circle) its own bin, the rest one bin."""
    codes = np.arange(2**points, dtype=np.int64)
    rotated = ((codes << 1) | (codes >> (points - 1))) & (2**points - 1)
    transitions = np.array([bin(int(x)).count("1") for x in codes ^ rotated])
    uniform = transitions <= 2
    lut = np.full(2**points, int(uniform.sum()), dtype=np.int64)
    lut[uniform] = np.arange(int(uniform.sum()))
    return lut


class LBPFeatures(nn.Module):
    """(B, 1, 64, 64) grey face in 0..255 -> (B, 833) histograms: LBP(8,1) on 3x3 overlapping blocks, LBP(8,2) and LBP(16,2) whole."""

    def __init__(self, size: int = 64):
        super().__init__()
        self.inner = size - 2 * MARGIN
        step = self.inner // 3 - 1  # 3 blocks per side, overlapping by a few pixels, covering the face exactly
        block = self.inner - 2 * step
        self.blocks = [(y, x, block) for y in (0, step, 2 * step) for x in (0, step, 2 * step)]
        self.rings = [RING_8_1, RING_8_2, RING_16_2]
        for i, ring in enumerate(self.rings):
            lut = torch.from_numpy(uniform_lookup(len(ring)))
            self.register_buffer(f"lut{i}", lut, persistent=False)
            self.register_buffer(f"bins{i}", torch.arange(int(lut.max()) + 1).view(1, -1, 1, 1), persistent=False)

    @property
    def size(self) -> int:
        return 9 * 59 + 59 + 243

    def _one_hot(self, grey: torch.Tensor, i: int) -> torch.Tensor:
        n = self.inner
        centre = grey[:, :, MARGIN : MARGIN + n, MARGIN : MARGIN + n]
        code = torch.zeros_like(centre)
        for bit, (dy, dx) in enumerate(self.rings[i]):
            neighbour = grey[:, :, MARGIN + dy : MARGIN + dy + n, MARGIN + dx : MARGIN + dx + n]
            code = code + (neighbour >= centre).to(grey.dtype) * float(2**bit)
        index = getattr(self, f"lut{i}")[code.long()]
        return (index == getattr(self, f"bins{i}")).to(grey.dtype)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        near = self._one_hot(grey, 0)
        parts = [near[:, :, y : y + b, x : x + b].mean(dim=(2, 3)) for y, x, b in self.blocks]
        parts.append(self._one_hot(grey, 1).mean(dim=(2, 3)))
        parts.append(self._one_hot(grey, 2).mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)


class LBPSVM(nn.Module):
    """LBP features -> standardise -> RBF SVM decision -> Platt logit; outputs logits [0, live logit].

    The export wrapper's softmax over these two logits is the Platt sigmoid, so
    the graph's probs are exactly the calibrated live probability.
    """

    def __init__(self, features: LBPFeatures, mean, scale, support_vectors, dual_coef, intercept: float, gamma: float,
                 platt_a: float, platt_b: float):
        super().__init__()
        self.features = features
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
        self.register_buffer("mean", f32(mean))
        self.register_buffer("scale", f32(scale))
        self.register_buffer("sv", f32(support_vectors))
        self.register_buffer("sv_sq", f32((np.asarray(support_vectors, dtype=np.float64) ** 2).sum(1)))
        self.register_buffer("coef", f32(dual_coef).reshape(-1, 1))
        self.intercept, self.gamma, self.platt_a, self.platt_b = float(intercept), float(gamma), float(platt_a), float(platt_b)

    def decision(self, grey: torch.Tensor) -> torch.Tensor:
        z = (self.features(grey) - self.mean) / self.scale
        d2 = (z * z).sum(1, keepdim=True) - 2.0 * z @ self.sv.t() + self.sv_sq
        return (torch.exp(-self.gamma * d2.clamp(min=0.0)) @ self.coef).squeeze(1) + self.intercept

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        live_logit = self.platt_a * self.decision(grey) + self.platt_b
        return torch.stack([torch.zeros_like(live_logit), live_logit], dim=1)


class WithSoftmax(nn.Module):
    """The exported graph: class probabilities [spoof, live], the softmax of the network's two logits.

    With LBPSVM's logits [0, Platt logit] the softmax is the Platt sigmoid. The
    division by a temperature of 1 is part of the shipped graph, so a
    retrained model comes out byte for byte like it.
    """

    def __init__(self, net: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.net = net
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x) / self.temperature, dim=1)
