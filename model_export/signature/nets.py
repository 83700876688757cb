"""Signature networks: the twin (Siamese) embedding network and the seed paper's small CNN.

Both read canvases resized to the network input (1 x H x W, ink bright,
scaled to 0..1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_block(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SignatureEmbeddingNet(nn.Module):
    """Maps one signature to a unit-length embedding; the twin network is two copies sharing weights.

    Two signatures by the same writer land close together; a forgery or another
    writer's signature lands further away. Spatial layout matters for
    signatures, so the last feature map is pooled to a coarse 2x4 grid rather
    than to a single vector.
    """

    def __init__(self, embedding_dim: int = 128, widths: tuple[int, ...] = (32, 64, 96, 128, 128), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [_conv_block(1, widths[0], kernel_size=5), nn.MaxPool2d(2)]
        for i in range(1, len(widths)):
            layers.append(_conv_block(widths[i - 1], widths[i]))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((2, 4))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1] * 8, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        x = self.fc(self.dropout(x))
        return F.normalize(x, dim=1)


class PaperSignatureCNN(nn.Module):
    """The seed paper's small CNN: five conv + max-pool stages, dense 512, dropout, sigmoid (~35k parameters).

    The paper classifies one image as genuine or forged. A writer-independent
    service must judge a signature against someone's references, so here the
    input is the pair as two channels (questioned, reference) and the output
    is the probability that the questioned signature is a genuine one by the
    reference's writer.
    """

    def __init__(self, in_channels: int = 2, widths: tuple[int, ...] = (8, 16, 16, 32, 32), hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for width in widths:
            layers += [nn.Conv2d(prev, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(prev, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits; the exported model appends the sigmoid."""
        x = torch.amax(self.features(x), dim=(2, 3))
        return self.classifier(x).squeeze(1)


class PairSignatureCNN(nn.Module):
    """A wider pair network: conv + batch-norm stages, global average and max pooling, a small head.

    Same input and output as PaperSignatureCNN (the pair as two channels,
    a logit out), so serving and evaluation do not change. Batch norm lets a
    net a few times wider train in few epochs on a small set; pooling both the
    mean and the max of the last map keeps "how much differs" as well as
    "where it differs most", for a few hundred k parameters.
    """

    def __init__(self, in_channels: int = 2, widths: tuple[int, ...] = (16, 32, 64, 96, 128), hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [_conv_block(in_channels, widths[0], kernel_size=5), nn.MaxPool2d(2)]
        for i in range(1, len(widths)):
            layers.append(_conv_block(widths[i - 1], widths[i]))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(2 * widths[-1], hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits; the exported model appends the sigmoid."""
        f = self.features(x)
        x = torch.cat([f.mean(dim=(2, 3)), torch.amax(f, dim=(2, 3))], dim=1)
        return self.classifier(x).squeeze(1)


class SigmoidOutput(nn.Module):
    """Wraps a logit network so the exported graph outputs probabilities."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
