"""The writer-independent feature network (SigNet in spirit, small enough to train and serve on a CPU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_HEIGHT, INPUT_WIDTH = 64, 128
EMBEDDING = 256


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SignatureFeatureNet(nn.Module):
    """Canvas (channels x 64 x 128, ink bright, 0..1) -> L2-normalised 256-d feature.

    One channel: the canvas (or its redrawn strokes); two: the canvas and its
    strokes redrawn at one width, so the network has the pen's path from any
    capture and the ink's width and darkness where the capture has them.

    A strided 5x5 stem and early pooling keep the cost low (most pixels are
    empty); average and max pooling of the last maps together keep both the
    overall shape and the strongest local stroke patterns.
    """

    def __init__(self, embedding: int = EMBEDDING, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),  # 32x64
            nn.MaxPool2d(2),  # 16x32
            _block(16, 32), nn.MaxPool2d(2),  # 8x16
            _block(32, 64), _block(64, 64), nn.MaxPool2d(2),  # 4x8
            _block(64, 128), _block(128, 256),
        )
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(256 * 2, embedding), nn.BatchNorm1d(embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([F.adaptive_avg_pool2d(f, 1), F.adaptive_max_pool2d(f, 1)], dim=1)
        return F.normalize(self.project(pooled), dim=1)


class MarginClassifier(nn.Module):
    """Training-only head: additive-margin softmax (cosine to class centres, a margin on the true class)."""

    def __init__(self, embedding: int, classes: int, scale: float = 30.0, margin: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, embedding) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = emb @ F.normalize(self.weight, dim=1).t()
        logits = self.scale * (cos - self.margin * F.one_hot(labels, cos.shape[1]))
        return F.cross_entropy(logits, labels)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


class FeatureEnsemble(nn.Module):
    """Several feature networks, each reading its own channels of one input; features concatenated, L2-normalised again.

    Lets a network of grey canvases and one of canvas + redrawn strokes serve as one ONNX graph (one input, one feature).
    """

    def __init__(self, members: list[SignatureFeatureNet], channels: list[list[int]]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.channels = [list(c) for c in channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(torch.cat([m(x[:, c]) for m, c in zip(self.members, self.channels)], dim=1), dim=1)


def network_from_checkpoint(checkpoint: dict) -> nn.Module:
    """The network a training checkpoint (best.pt) holds: one SignatureFeatureNet, or an ensemble of them."""
    if "members" in checkpoint:
        members = []
        for m in checkpoint["members"]:
            net = SignatureFeatureNet(in_channels=int(m["in_channels"]))
            net.load_state_dict(m["net"])
            members.append(net)
        return FeatureEnsemble(members, [m["channels"] for m in checkpoint["members"]])
    net = SignatureFeatureNet(in_channels=int(checkpoint.get("channels", 1)))
    net.load_state_dict(checkpoint["net"])
    return net
