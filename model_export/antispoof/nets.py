"""Networks for face anti-spoofing: a ResNet-18-style classifier, its compact variant, and MiniFASNet.

The ResNet follows torchvision's resnet.py layout (stem, four stages of
BasicBlocks, global pooling), with the stage widths as a parameter so one
definition gives both ResNet-18 (64..512 channels, 11 M parameters) and a
compact variant (16..128 channels, 0.7 M parameters).

The head is either a plain linear layer (softmax cross-entropy) or an
additive-margin softmax (AM-Softmax, Wang et al. 2018): logits are scaled
cosines between the L2-normalised embedding and L2-normalised class weights,
and during training the true class's cosine is reduced by a margin, which
forces a gap between live and spoof embeddings.

MiniFASNet (Minivision's Silent-Face-Anti-Spoofing, Apache-2.0) is written here
from its published architecture only to load the pretrained baseline weights
for comparison; those weights are never shipped.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# ResNet (torchvision style)
# ---------------------------------------------------------------------------


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class AMSoftmaxHead(nn.Module):
    """Scaled cosine logits; `margin` is subtracted from the true class's cosine during training only."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.35):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin

    def forward(self, embedding: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        cosine = F.linear(F.normalize(embedding, dim=1), F.normalize(self.weight, dim=1))
        if target is not None and self.training:
            cosine = cosine - self.margin * F.one_hot(target, cosine.shape[1]).to(cosine.dtype)
        return self.scale * cosine


class IlluminationInvariantStem(nn.Module):
    """Fixed (untrained) input stage: per-image channel standardisation, then the image beside its high-pass band.

    Instance normalisation removes a capture's overall brightness, contrast and
    white balance, which change between sessions and say nothing about
    liveness. The high-pass band (image minus a Gaussian blur) is where print
    texture, halftone and recapture blur live; it is amplified so the first
    convolution sees it at the same scale as the image.
    """

    def __init__(self, sigma: float = 1.5, gain: float = 4.0, channels: int = 3):
        super().__init__()
        radius = int(round(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = g / g.sum()
        kernel = (g[:, None] * g[None, :]).expand(channels, 1, -1, -1).clone()
        self.register_buffer("kernel", kernel)
        self.padding = radius
        self.gain = gain
        self.channels = channels
        self.norm = nn.InstanceNorm2d(channels, affine=False, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        blurred = F.conv2d(F.pad(x, [self.padding] * 4, mode="reflect"), self.kernel, groups=self.channels)
        return torch.cat([x, self.gain * (x - blurred)], dim=1)


class GreyStem(nn.Module):
    """Mean of the three normalised channels: the network sees no colour, only texture and shading."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)


class ResNet(nn.Module):
    """ResNet with BasicBlocks. `widths` sets the four stage widths, `layers` the blocks per stage.

    forward() returns class logits; features() the pooled embedding used by the similarity loss.
    """

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int = 2,
        head: str = "linear",
        am_scale: float = 30.0,
        am_margin: float = 0.35,
        dropout: float = 0.0,
        invariant_stem: bool = False,
        grey: bool = False,
    ):
        super().__init__()
        self.inplanes = widths[0]
        if invariant_stem:
            self.stem, in_channels = IlluminationInvariantStem(), 6
        elif grey:
            self.stem, in_channels = GreyStem(), 1
        else:
            self.stem, in_channels = nn.Identity(), 3
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(widths[0], layers[0])
        self.layer2 = self._make_layer(widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.head_type = head
        if head == "amsoftmax":
            self.fc = AMSoftmaxHead(widths[3], num_classes, scale=am_scale, margin=am_margin)
        elif head == "linear":
            self.fc = nn.Linear(widths[3], num_classes)
        else:
            raise ValueError(f"unknown head {head!r}")

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        # Start each residual branch as identity (zero-init the last BN), as torchvision offers.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_maps(x)[0]

    def features_and_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The pooled embedding and the outputs of stages 2-4 (targets for feature distillation)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.stem(x)))))
        l2 = self.layer2(self.layer1(x))
        l3 = self.layer3(l2)
        l4 = self.layer4(l3)
        return torch.flatten(self.avgpool(l4), 1), [l2, l3, l4]

    def logits(self, embedding: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        embedding = self.dropout(embedding)
        if self.head_type == "amsoftmax":
            return self.fc(embedding, target)
        return self.fc(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x))


ARCHITECTURES = {
    "resnet18": dict(layers=(2, 2, 2, 2), widths=(64, 128, 256, 512)),
    "resnet18_compact": dict(layers=(2, 2, 2, 2), widths=(16, 32, 64, 128)),
}


def build_antispoof_net(arch: str, head: str = "linear", **kwargs) -> nn.Module:
    if arch == "minifasnet_v1se":
        if head != "linear":
            raise ValueError("the MiniFASNet-style student has a linear head only")
        return MiniFASNetStudent()
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES) + ['minifasnet_v1se']}")
    return ResNet(**ARCHITECTURES[arch], head=head, **kwargs)


class WithSoftmax(nn.Module):
    """Export wrapper: the ONNX graph outputs class probabilities [spoof, live] at a temperature.

    An AM-Softmax head's logits are cosines times a large scale (30), so its
    softmax sits at exactly 0 or 1 in float32 for most faces and thresholds
    lose their meaning. Dividing the logits by a temperature keeps the score
    monotone in the live-vs-spoof margin but readable across its range.
    """

    def __init__(self, net: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.net = net
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x) / self.temperature, dim=1)


def similarity_loss(embedding: torch.Tensor, target: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Pairwise cosine similarity loss over a batch.

    Same-class pairs are pulled towards cosine 1; live/spoof pairs are pushed
    below `margin`. Complements the classification loss by shaping the
    embedding, so the live class forms one tight cluster.
    """
    z = F.normalize(embedding, dim=1)
    sim = z @ z.t()
    same = (target[:, None] == target[None, :]).float()
    eye = torch.eye(len(target), device=z.device)
    same = same - eye
    diff = 1.0 - same - eye
    pos = ((1.0 - sim) * same).sum() / same.sum().clamp(min=1.0)
    neg = (F.relu(sim - margin) * diff).sum() / diff.sum().clamp(min=1.0)
    return pos + neg


# ---------------------------------------------------------------------------
# MiniFASNet (baseline only)
# ---------------------------------------------------------------------------


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
        """The 128-d embedding the class layer reads (a distillation target)."""
        return self.embed_and_maps(x)[0]

    def embed_and_maps(self, x) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The embedding and the outputs of the three residual stages (64, 128, 128 channels at 1/4, 1/8, 1/16 of the input)."""
        maps = []
        for layer in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = layer(x)
            if layer in (self.conv_3, self.conv_4, self.conv_5):
                maps.append(x)
        return self.bn(self.linear(torch.flatten(x, 1))), maps

    def forward(self, x):
        return self.prob(self.drop(self.embed(x)))


def load_minifasnet(path, version: str, se: bool) -> MiniFASNet:
    """Load one of the pretrained .pth files (legacy pickle, keys prefixed `module.`)."""
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = MiniFASNet(version=version, se=se)
    net.load_state_dict(state, strict=True)
    return net.eval()


class MiniFASNetStudent(nn.Module):
    """A MiniFASNetV1SE-shaped network trained from scratch (80x80 input, our normalisation, 2 classes).

    Same depthwise design as the pretrained teacher so that feature distillation
    can match it stage by stage; the interface is the ResNet's (features, logits,
    features_and_maps), so training and export treat both alike.
    """

    def __init__(self):
        super().__init__()
        self.body = MiniFASNet(version="v1", se=True, num_classes=2)

    def features_and_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.body.embed_and_maps(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.embed(x)

    def logits(self, embedding: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return self.body.prob(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x))
