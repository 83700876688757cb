"""Augmentations for a small signature set, applied to canvases (uint8, ink bright on black).

Natural variation (a writer never signs twice the same way):
- `affine`: rotation, scale, slant and shift;
- `elastic`: smooth local displacement (letters grow, shrink, lean);
- `stroke_width`: thinner or thicker pen.

`forgery_like` imitates what a skilled forger's copy does to a genuine
signature: slow, hesitant strokes (a high-frequency tremor along the line),
heavier pressure, and proportions that drift (stronger, lower-frequency
shape distortion). Training uses it to make extra negatives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    affine: bool = True
    elastic: bool = True
    stroke_width: bool = True
    forgery_like: bool = True  # synthetic forgeries as extra negatives

    @classmethod
    def named(cls, name: str) -> "AugmentConfig":
        """'none', 'natural' (affine+elastic+stroke) or 'full' (natural + synthetic forgeries).

        A preset may drop parts for an ablation, e.g. 'full-elastic' or 'natural-affine-stroke_width'.
        """
        preset, *dropped = name.split("-")
        presets = {"none": cls(False, False, False, False), "natural": cls(True, True, True, False), "full": cls()}
        if preset not in presets or any(d not in cls.__dataclass_fields__ for d in dropped):
            raise ValueError(f"unknown augmentation {name!r}")
        return replace(presets[preset], **{d: False for d in dropped})


def affine(canvas: np.ndarray, rng: np.random.Generator, max_rot: float = 6.0, scale=(0.88, 1.08), max_shear: float = 0.12) -> np.ndarray:
    h, w = canvas.shape
    angle = rng.uniform(-max_rot, max_rot)
    s = rng.uniform(*scale)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, s)
    shear = rng.uniform(-max_shear, max_shear)
    m[0, 1] += shear * s
    m[0, 2] -= shear * s * h / 2
    m[0, 2] += rng.uniform(-0.04, 0.04) * w
    m[1, 2] += rng.uniform(-0.04, 0.04) * h
    return cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def _displacement(shape, rng: np.random.Generator, sigma: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    # Normalise so alpha is the largest displacement in pixels, whatever sigma is.
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    return dx * (alpha / norm), dy * (alpha / norm)


def elastic(canvas: np.ndarray, rng: np.random.Generator, sigma: float = 12.0, alpha: float = 3.0) -> np.ndarray:
    h, w = canvas.shape
    dx, dy = _displacement((h, w), rng, sigma, rng.uniform(0.3, 1.0) * alpha)
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(canvas, x + dx, y + dy, interpolation=cv2.INTER_LINEAR, borderValue=0)


def stroke_width(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    choice = rng.integers(0, 3)
    if choice == 0:
        return canvas
    kernel = np.ones((2, 2), np.uint8)
    return cv2.dilate(canvas, kernel) if choice == 1 else cv2.erode(canvas, kernel)


def forgery_like(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A genuine signature redrawn the way a careful imitator would: shaky, heavier, proportions off."""
    h, w = canvas.shape
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # Proportions drift: strong low-frequency distortion plus anisotropic stretch.
    dx1, dy1 = _displacement((h, w), rng, sigma=20.0, alpha=rng.uniform(5.0, 9.0))
    # Tremor: slow drawing leaves small high-frequency wobble.
    dx2, dy2 = _displacement((h, w), rng, sigma=2.5, alpha=rng.uniform(0.8, 1.6))
    sx, sy = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
    cx, cy = w / 2, h / 2
    map_x = (x - cx) / sx + cx + dx1 + dx2
    map_y = (y - cy) / sy + cy + dy1 + dy2
    out = cv2.remap(canvas, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:  # heavier, even pressure
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    return out


def augment(canvas: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Natural variation only (the forgery-like transform is applied by the pair sampler)."""
    out = canvas
    if config.affine:
        out = affine(out, rng)
    if config.elastic:
        out = elastic(out, rng)
    if config.stroke_width:
        out = stroke_width(out, rng)
    return out
