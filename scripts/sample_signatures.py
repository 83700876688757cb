"""Synthetic handwritten-looking signatures for demos and tests (no real signature data needed).

    python scripts/sample_signatures.py --out samples/ --writers 3 --samples 6

A "writer" is a seed: it fixes a smooth pen trajectory (a capital stroke,
one or two cursive words made of loops whose height and width follow the
writer's own rhythm, an optional underline flourish), a slant and a pen.
Each sample of that writer redraws the same trajectory with natural
variation: small changes of proportions and phase, an affine jitter, pen
speed/pressure along the line, slight noise and paper texture.

`make_forgery` imitates a writer less precisely: proportions drift more,
the line trembles (slow, careful drawing) and the pressure is even and heavy.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 400, 150
SUPERSAMPLE = 3  # drawn larger then reduced, for smooth anti-aliased strokes


@dataclass(frozen=True)
class _Word:
    start: float  # x where the word starts
    length: float
    loops: int
    loop_width: float  # horizontal loop radius (loops appear where it beats the forward speed)
    heights: tuple[float, ...]  # Fourier amplitudes of the letter-height envelope
    phases: tuple[float, ...]
    baseline_tilt: float


@dataclass(frozen=True)
class _Style:
    words: tuple[_Word, ...]
    capital: tuple[float, float, float]  # height, width, lean of the first big stroke
    flourish: float  # 0 = none, else the underline's curvature
    slant: float  # shear, as a fraction of height
    pen: float  # base pen width in output pixels


def _writer_style(writer_seed: int) -> _Style:
    rng = np.random.default_rng([writer_seed, 5151])
    words = []
    x = 0.0
    for _ in range(int(rng.integers(1, 3))):
        length = rng.uniform(1.6, 3.2)
        words.append(
            _Word(
                start=x,
                length=length,
                loops=int(rng.integers(3, 8)),
                loop_width=rng.uniform(0.06, 0.16),
                heights=tuple(rng.uniform(0.05, 0.35, 3)),
                phases=tuple(rng.uniform(0, 2 * np.pi, 3)),
                baseline_tilt=rng.uniform(-0.15, 0.15),
            )
        )
        x += length + rng.uniform(0.3, 0.7)
    return _Style(
        words=tuple(words),
        capital=(rng.uniform(0.9, 1.6), rng.uniform(0.3, 0.8), rng.uniform(-0.4, 0.4)),
        flourish=float(rng.uniform(0.1, 0.5)) if rng.random() < 0.6 else 0.0,
        slant=rng.uniform(-0.1, 0.45),
        pen=rng.uniform(1.4, 2.6),
    )


def _jitter(value: float, rng: np.random.Generator, amount: float) -> float:
    return float(value * (1.0 + amount * rng.standard_normal()))


def _trajectory(style: _Style, rng: np.random.Generator, variation: float) -> list[np.ndarray]:
    """Pen strokes as (N, 2) arrays in signature units (y up), each drawn without lifting the pen."""
    strokes = []
    h, w, lean = (_jitter(v, rng, variation) for v in style.capital)
    t = np.linspace(0, 1, 300)
    # Capital: a tall down-up stroke with a loop at its top.
    cx = -w * 0.2 + lean * h * t
    strokes.append(np.c_[cx + w * np.sin(2 * np.pi * t) * (1 - t), h * np.sin(np.pi * t) - 0.1 + 0.2 * t])
    for word in style.words:
        n = max(2, word.loops)
        t = np.linspace(0, 1, 160 * n)
        length = _jitter(word.length, rng, variation)
        r = _jitter(word.loop_width, rng, variation)
        envelope = 0.25 + sum(
            _jitter(a, rng, variation) * np.sin((k + 1) * np.pi * t + p + variation * rng.standard_normal())
            for k, (a, p) in enumerate(zip(word.heights, word.phases))
        )
        envelope = np.abs(envelope) + 0.08
        phase = 2 * np.pi * n * t
        x = word.start + length * t - r * np.sin(phase)
        y = envelope * (1 - np.cos(phase)) / 2 + word.baseline_tilt * t
        strokes.append(np.c_[x, y])
    if style.flourish:
        end = strokes[-1][-1, 0]
        t = np.linspace(0, 1, 400)
        bend = _jitter(style.flourish, rng, variation)
        x = end - (end + 0.4) * t
        y = -0.25 - bend * np.sin(np.pi * t) + 0.1 * t
        strokes.append(np.c_[x, y])
    return strokes


def _render(strokes: list[np.ndarray], style: _Style, rng: np.random.Generator, *, affine_jitter: float, pressure_var: float, pen_scale: float, tremor: float) -> np.ndarray:
    import cv2

    pts_all = np.concatenate(strokes)
    # Affine jitter: rotation, scale, shear (the writer's slant plus a little).
    angle = np.deg2rad(affine_jitter * 3.0 * rng.standard_normal())
    shear = style.slant + affine_jitter * 0.05 * rng.standard_normal()
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear_m = np.array([[1.0, shear], [0.0, 1.0]])
    m = rot @ shear_m * (1.0 + affine_jitter * 0.04 * rng.standard_normal())
    lo, hi = (pts_all @ m.T).min(axis=0), (pts_all @ m.T).max(axis=0)
    margin = 12
    scale = min((WIDTH - 2 * margin) / (hi[0] - lo[0]), (HEIGHT - 2 * margin) / (hi[1] - lo[1]))
    offset = np.array([(WIDTH - scale * (hi[0] - lo[0])) / 2, (HEIGHT - scale * (hi[1] - lo[1])) / 2])
    ss = SUPERSAMPLE
    ink = np.zeros((HEIGHT * ss, WIDTH * ss), np.float32)
    for stroke in strokes:
        p = (stroke @ m.T - lo) * scale + offset
        p[:, 1] = HEIGHT - p[:, 1]  # y up -> image rows down
        if tremor:
            wobble = np.cumsum(rng.standard_normal(p.shape), axis=0)
            wobble -= np.linspace(wobble[0], wobble[-1], len(wobble))
            p = p + tremor * wobble / max(1.0, np.abs(wobble).max())
            p = p + tremor * 0.4 * rng.standard_normal(p.shape)
        # Pressure along the line: slow at turns (heavier), fast on straights (lighter).
        speed = np.r_[0, np.linalg.norm(np.diff(p, axis=0), axis=1)]
        speed = speed / (speed.mean() + 1e-9)
        wave = np.sin(np.linspace(0, rng.uniform(2, 6) * np.pi, len(p)) + rng.uniform(0, 2 * np.pi))
        width = style.pen * pen_scale * (1.0 + pressure_var * (0.35 * wave - 0.25 * (speed - 1)))
        width = np.clip(width, 0.6, 6.0)
        q = np.round(p * ss).astype(np.int32)
        for i in range(1, len(q)):
            cv2.line(ink, tuple(q[i - 1]), tuple(q[i]), 1.0, thickness=max(1, int(round(width[i] * ss))), lineType=cv2.LINE_AA)
    ink = cv2.resize(ink, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    return np.clip(ink, 0, 1)


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    paper = rng.uniform(222, 246) + cv2.GaussianBlur(rng.standard_normal(ink.shape).astype(np.float32), (0, 0), 6) * 8
    paper += rng.standard_normal(ink.shape) * 2.0  # grain
    shade = np.linspace(rng.uniform(-8, 0), rng.uniform(0, 8), ink.shape[1])[None, :]  # uneven light
    ink_level = rng.uniform(25, 70)
    img = (paper + shade) * (1 - ink) + ink_level * ink
    return np.clip(img + rng.standard_normal(ink.shape) * 1.5, 0, 255).astype(np.uint8)


def make_signature(writer_seed: int, sample: int) -> np.ndarray:
    """A genuine-looking signature of the writer `writer_seed`: grayscale uint8 (150, 400), dark ink on light paper."""
    style = _writer_style(writer_seed)
    rng = np.random.default_rng([writer_seed, sample, 1])
    strokes = _trajectory(style, rng, variation=0.03)
    ink = _render(strokes, style, rng, affine_jitter=1.0, pressure_var=1.0, pen_scale=1.0, tremor=0.0)
    return _on_paper(ink, rng)


def make_forgery(writer_seed: int, sample: int) -> np.ndarray:
    """Someone imitating `writer_seed`: same design, looser proportions, shaky line, even heavy pressure."""
    style = _writer_style(writer_seed)
    rng = np.random.default_rng([writer_seed, sample, 2])
    strokes = _trajectory(style, rng, variation=0.15)
    ink = _render(strokes, style, rng, affine_jitter=2.0, pressure_var=0.3, pen_scale=1.3, tremor=1.5)
    return _on_paper(ink, rng)


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--forgeries", type=int, default=2)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for w in range(args.writers):
        for s in range(args.samples):
            Image.fromarray(make_signature(w, s)).save(args.out / f"writer{w}_genuine{s}.png")
        for s in range(args.forgeries):
            Image.fromarray(make_forgery(w, s)).save(args.out / f"writer{w}_forgery{s}.png")
    print(f"wrote {args.writers * (args.samples + args.forgeries)} images to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
