"""EdgeFace-XS as a plain PyTorch module, written here from the EdgeFace paper and the EdgeNeXt design.

EdgeFace (George et al., IEEE T-BIOM 2024; Idiap, BSD-3-Clause) is the
EdgeNeXt-XS backbone (Maaz et al., 2022) with a 512-d embedding head, trained
on WebFace12M. The authors publish an int8 dynamic-quantised state dict
(`edgeface_xs_q.pt`: the Linear layers' weights are int8 with one scale per
tensor, everything else float32). This module has the same parameter names,
so that state dict loads into it after the int8 weights are turned back into
float32 (`dequantised_state_dict`); the exported ONNX graph is then plain
float32 with the published (int8-rounded) weights.

Shape of the network (input 3x112x112, RGB scaled to -1..1):
stem 4x4/4 conv + LayerNorm -> four stages of (32, 64, 100, 192) channels,
(3, 3, 9, 3) blocks, depthwise kernels (3, 5, 7, 9); the last block of
stages 2-4 is a split-depthwise + transposed-attention block (the first of
them with a Fourier positional encoding); between stages LayerNorm + 2x2/2
conv; head: global average, LayerNorm, Linear to 512.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DIMS = (32, 64, 100, 192)
DEPTHS = (3, 3, 9, 3)
KERNELS = (3, 5, 7, 9)
ATTENTION_BLOCKS = (0, 1, 1, 1)  # how many of a stage's last blocks are split-attention blocks
SCALES = (2, 2, 3, 4)  # channel groups of the split-depthwise part
POSITION_ENCODING = (False, True, False, False)
HEADS = 4
EMBEDDING = 512
EPS = 1e-6


class ChannelsFirstNorm(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ConvBlock(nn.Module):
    """Depthwise conv, then a channels-last LayerNorm + 4x feed-forward, scaled, added to the input."""

    def __init__(self, dim: int, kernel: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.mlp = FeedForward(dim, 4 * dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.mlp(self.norm(y))
        return x + y.permute(0, 3, 1, 2)


class FourierPositions(nn.Module):
    """Sine/cosine encoding of each position's normalised row and column, projected to the block's width."""

    def __init__(self, dim: int, hidden: int = 32, temperature: float = 10000.0):
        super().__init__()
        self.hidden, self.temperature = hidden, temperature
        self.token_projection = nn.Conv2d(2 * hidden, dim, 1)

    def encoding(self, h: int, w: int) -> torch.Tensor:
        """(1, 2*hidden, h, w), a constant for a given size."""
        rows = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
        cols = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
        rows = rows / (h + 1e-6) * 2 * math.pi
        cols = cols / (w + 1e-6) * 2 * math.pi
        k = torch.arange(self.hidden, dtype=torch.float32)
        freq = self.temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / self.hidden)

        def waves(v: torch.Tensor) -> torch.Tensor:
            a = v[:, :, None] / freq
            return torch.stack((a[:, :, 0::2].sin(), a[:, :, 1::2].cos()), dim=3).flatten(2)

        return torch.cat((waves(rows), waves(cols)), dim=2).permute(2, 0, 1)[None]

    def forward(self, h: int, w: int) -> torch.Tensor:
        return self.token_projection(self.encoding(h, w))


class TransposedAttention(nn.Module):
    """Attention across channels (a heads x C/heads x C/heads map per head) instead of across positions."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 4, 1)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * self.temperature
        y = (attn.softmax(dim=-1) @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        return self.proj(y)


class SplitAttentionBlock(nn.Module):
    """Channel groups through cascaded 3x3 depthwise convs, transposed attention, then a feed-forward.

    out = x + gamma * ffn(norm(z)), z = s + gamma_xca * attention(norm_xca(s)), s = split convs of x (+ positions).
    """

    def __init__(self, dim: int, scales: int, heads: int, positions: bool):
        super().__init__()
        width = max(math.ceil(dim / scales), dim // scales)
        self.groups = scales
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1, groups=width) for _ in range(scales - 1))
        self.pos_embd = FourierPositions(dim) if positions else None
        self.norm_xca = nn.LayerNorm(dim, eps=EPS)
        self.gamma_xca = nn.Parameter(torch.ones(dim))
        self.xca = TransposedAttention(dim, heads)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.mlp = FeedForward(dim, 4 * dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        parts = torch.chunk(x, self.groups, dim=1)
        out, running = [], parts[0]
        for i, conv in enumerate(self.convs):
            if i > 0:
                running = running + parts[i]
            running = conv(running)
            out.append(running)
        out.append(parts[-1])
        y = torch.cat(out, dim=1)
        y = y.reshape(b, c, h * w).permute(0, 2, 1)
        if self.pos_embd is not None:
            y = y + self.pos_embd(h, w).reshape(1, c, h * w).permute(0, 2, 1)
        y = y + self.gamma_xca * self.xca(self.norm_xca(y))
        # The feed-forward's result alone joins the block's input: the attention branch reaches the
        # output only through it (no residual around the feed-forward), as the published weights expect.
        y = self.gamma * self.mlp(self.norm(y))
        return x + y.permute(0, 2, 1).reshape(b, c, h, w)


class Stage(nn.Module):
    def __init__(self, index: int):
        super().__init__()
        dim = DIMS[index]
        self.downsample = (
            nn.Sequential(ChannelsFirstNorm(DIMS[index - 1], eps=EPS), nn.Conv2d(DIMS[index - 1], dim, 2, stride=2))
            if index > 0 else nn.Identity()
        )
        n_conv = DEPTHS[index] - ATTENTION_BLOCKS[index]
        blocks: list[nn.Module] = [ConvBlock(dim, KERNELS[index]) for _ in range(n_conv)]
        blocks += [SplitAttentionBlock(dim, SCALES[index], HEADS, POSITION_ENCODING[index]) for _ in range(ATTENTION_BLOCKS[index])]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = ChannelsFirstNorm(DIMS[-1], eps=EPS)
        self.fc = nn.Linear(DIMS[-1], EMBEDDING)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x.mean(dim=(2, 3), keepdim=True)).flatten(1)
        return self.fc(x)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, DIMS[0], 4, stride=4), ChannelsFirstNorm(DIMS[0], eps=EPS))
        self.stages = nn.Sequential(*(Stage(i) for i in range(4)))
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class EdgeFaceXS(nn.Module):
    """(N, 3, 112, 112) RGB in -1..1 -> (N, 512) embedding (not unit length)."""

    def __init__(self):
        super().__init__()
        self.model = Backbone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def dequantised_state_dict(published: dict) -> dict[str, torch.Tensor]:
    """The published int8 dynamic-quantised state dict as float32 tensors under this module's names.

    A quantised Linear stores `<name>._packed_params._packed_params` = (int8 weight with its scale, float bias)
    plus the activation scale/zero point of dynamic quantisation (not needed for a float graph).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in published.items():
        if key.endswith("._packed_params._packed_params"):
            name = key[: -len("._packed_params._packed_params")]
            weight, bias = value
            out[f"{name}.weight"] = weight.dequantize().float()
            if bias is not None:
                out[f"{name}.bias"] = bias.float()
        elif key.endswith((".scale", ".zero_point", "._packed_params.dtype")) and not isinstance(value, torch.nn.Parameter) and (
            not torch.is_tensor(value) or value.dim() == 0
        ):
            continue  # dynamic quantisation's bookkeeping
        else:
            out[key] = value.float() if torch.is_tensor(value) else value
    return out


def load_published(path) -> EdgeFaceXS:
    """EdgeFaceXS with the weights of the authors' `edgeface_xs_q.pt` (every key must be used)."""
    published = torch.load(path, map_location="cpu", weights_only=False)
    net = EdgeFaceXS()
    net.load_state_dict(dequantised_state_dict(published), strict=True)
    return net.eval()
