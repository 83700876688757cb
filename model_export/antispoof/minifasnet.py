"""MiniFASNet V1/V2 (Minivision's Silent-Face-Anti-Spoofing, Apache-2.0), written from its published architecture.

The pretrained weights (Apache-2.0) load into this definition strictly and
are exported from it to ONNX (`convert.py`); the shipped anti-spoofing model
is that export.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Conv -> BN -> PReLU."""

    def __init__(self, in_c, out_c, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x):
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Conv -> BN, no activation."""

    def __init__(self, in_c, out_c, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x):
        return self.bn(self.conv(x))


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // reduction)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        w = self.relu(self.bn1(self.fc1(self.avg_pool(x))))
        return x * torch.sigmoid(self.bn2(self.fc2(w)))


class DepthWise(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 project, with an optional residual and squeeze-excitation."""

    def __init__(self, c_in, c_expand, c_out, stride=1, residual=False, se=False):
        super().__init__()
        self.conv = ConvBlock(c_in, c_expand)
        self.conv_dw = ConvBlock(c_expand, c_expand, kernel=3, stride=stride, padding=1, groups=c_expand)
        self.project = LinearBlock(c_expand, c_out)
        self.residual = residual
        if se:
            self.se_module = SEModule(c_out, 4)
        else:
            self.se_module = None

    def forward(self, x):
        out = self.project(self.conv_dw(self.conv(x)))
        if self.residual:
            if self.se_module is not None:
                out = self.se_module(out)
            out = x + out
        return out


class ResidualStage(nn.Module):
    def __init__(self, channels: int, expands: Sequence[int], se_last: bool):
        super().__init__()
        n = len(expands)
        self.model = nn.Sequential(
            *[DepthWise(channels, e, channels, residual=True, se=se_last and i == n - 1) for i, e in enumerate(expands)]
        )

    def forward(self, x):
        return self.model(x)


# Expansion widths of the pruned MiniFASNets ("1.8M" for V1/V1SE, "1.8M_" for V2).
MINIFAS_EXPANDS = {
    "v1": dict(t23=103, s3=(13, 26, 13, 52), t34=231, s4=(154, 52, 26, 52, 26, 26), t45=308, s5=(26, 26)),
    "v2": dict(t23=103, s3=(13, 13, 13, 13), t34=231, s4=(231, 52, 26, 77, 26, 26), t45=308, s5=(26, 26)),
}


class MiniFASNet(nn.Module):
    """MiniFASNet V1/V2 (optionally with SE), 80x80 BGR input in 0..255, 3 classes (1 = real face)."""

    def __init__(self, version: str = "v2", se: bool = False, embedding_size: int = 128, conv6_kernel=(5, 5), num_classes: int = 3):
        super().__init__()
        e = MINIFAS_EXPANDS[version]
        self.conv1 = ConvBlock(3, 32, kernel=3, stride=2, padding=1)
        self.conv2_dw = ConvBlock(32, 32, kernel=3, stride=1, padding=1, groups=32)
        self.conv_23 = DepthWise(32, e["t23"], 64, stride=2)
        self.conv_3 = ResidualStage(64, e["s3"], se)
        self.conv_34 = DepthWise(64, e["t34"], 128, stride=2)
        self.conv_4 = ResidualStage(128, e["s4"], se)
        self.conv_45 = DepthWise(128, e["t45"], 128, stride=2)
        self.conv_5 = ResidualStage(128, e["s5"], se)
        self.conv_6_sep = ConvBlock(128, 512)
        self.conv_6_dw = LinearBlock(512, 512, kernel=conv6_kernel, groups=512)
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)
        self.drop = nn.Dropout(0.0)
        self.prob = nn.Linear(embedding_size, num_classes, bias=False)

    def embed(self, x):
        """The 128-d embedding the class layer reads."""
        for layer in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = layer(x)
        return self.bn(self.linear(torch.flatten(x, 1)))

    def forward(self, x):
        return self.prob(self.drop(self.embed(x)))


def load_minifasnet(path, version: str, se: bool) -> MiniFASNet:
    """Load one of the pretrained .pth files (legacy pickle, keys prefixed `module.`)."""
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = MiniFASNet(version=version, se=se)
    net.load_state_dict(state, strict=True)
    return net.eval()
