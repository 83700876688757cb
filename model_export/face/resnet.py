"""The 29-layer face-embedding ResNet of dlib (`anet_type` in dlib's face recognition example), in PyTorch.

It maps a 150x150 aligned RGB face chip to a 128-d embedding; two chips show the
same person when their embeddings are close in Euclidean distance. The layout
copies dlib exactly so its trained weights (CC0) load without retraining:

* convolutions with stride 1 pad by kernel // 2, strided ones and pools pad 0;
* batch norm is folded into a fixed per-channel scale and shift ("affine");
* a down block's shortcut is a 2x2 stride-2 average pool, and the residual sum
  zero-pads both sides to the larger shape (channels and, at 8->3/4 and
  4->1/2 pixels, space), as dlib's `add_prev` does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dlib_format import DlibNetwork

EMBEDDING_SIZE = 128
INPUT_SIZE = 150


class Affine(nn.Module):
    """Per-channel y = gamma * x + beta (a frozen batch norm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Conv2d:
    padding = kernel_size // 2 if stride == 1 else 0
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=True)


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b after zero-padding both (at the end of each axis) to the larger channel and spatial size."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: torch.Tensor) -> torch.Tensor:
        pads = (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1])
        return F.pad(t, pads) if any(pads) else t

    return grow(a) + grow(b)


class ResidualBlock(nn.Module):
    """conv3x3-affine-relu-conv3x3-affine, added to the shortcut, then relu."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels, 3, stride)
        self.bn1 = Affine(out_channels)
        self.conv2 = _conv(out_channels, out_channels, 3, 1)
        self.bn2 = Affine(out_channels)
        self.downsample = nn.AvgPool2d(2, stride=2) if stride != 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = self.downsample(x) if self.downsample is not None else x
        if shortcut.shape == out.shape:
            return F.relu(out + shortcut)
        return F.relu(add_zero_padded(out, shortcut))


class FaceResNet(nn.Module):
    """Input: (N, 3, 150, 150) float, (RGB pixel - channel mean) / 256. Output: (N, 128) embedding."""

    # (channels, blocks, first block downsamples) per level, input side first
    levels = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))

    def __init__(self):
        super().__init__()
        self.conv1 = _conv(3, 32, 7, 2)
        self.bn1 = Affine(32)
        self.maxpool = nn.MaxPool2d(3, stride=2)
        blocks = []
        in_channels = 32
        for channels, count, down in self.levels:
            for i in range(count):
                blocks.append(ResidualBlock(in_channels, channels, stride=2 if (down and i == 0) else 1))
                in_channels = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_channels, EMBEDDING_SIZE, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.blocks(x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)

    @classmethod
    def from_dlib(cls, network: DlibNetwork) -> "FaceResNet":
        """Fill the module from a parsed dlib file (its layers come input side first, as ours run)."""
        model = cls()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        affines = [m for m in model.modules() if isinstance(m, Affine)]
        dlib_convs = [l for l in network.layers if l.kind == "con_4"]
        dlib_affines = [l for l in network.layers if l.kind == "affine_"]
        dlib_fc = [l for l in network.layers if l.kind == "fc_2"]
        if len(convs) != len(dlib_convs) or len(affines) != len(dlib_affines) or len(dlib_fc) != 1:
            raise ValueError("the dlib file does not have this network's layout")
        with torch.no_grad():
            for conv, rec in zip(convs, dlib_convs):
                if tuple(conv.weight.shape) != rec.arrays["weight"].shape or conv.stride[0] != rec.ints["stride_y"]:
                    raise ValueError(f"conv shape {tuple(conv.weight.shape)} != dlib {rec.arrays['weight'].shape}")
                if conv.padding[0] != rec.ints["padding_y"]:
                    raise ValueError("padding differs from the dlib file")
                conv.weight.copy_(torch.from_numpy(rec.arrays["weight"]))
                conv.bias.copy_(torch.from_numpy(rec.arrays["bias"]))
            for affine, rec in zip(affines, dlib_affines):
                affine.weight.copy_(torch.from_numpy(rec.arrays["gamma"]))
                affine.bias.copy_(torch.from_numpy(rec.arrays["beta"]))
            fc = dlib_fc[0].arrays["weight"]  # [num_inputs, num_outputs]
            model.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(fc.T)))
        return model.eval()
