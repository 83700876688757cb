"""The shipped signature network: the seed paper's small CNN on a pair of canvases.

It reads canvases resized to the network input (ink bright, scaled to 0..1).
"""

from __future__ import annotations

import torch
from torch import nn


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


class SigmoidOutput(nn.Module):
    """Wraps a logit network so the exported graph outputs probabilities."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
