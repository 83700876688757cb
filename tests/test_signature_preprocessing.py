"""Signature preprocessing: meaningful errors for unusable images, the same canvas from a scan or a photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from functions.biometrics.signature_preparation import (
    CANVAS_HEIGHT,
    CANVAS_WIDTH,
    STROKE_WIDTH,
    BlankImage,
    histogram_u8,
    ImageTooSmall,
    NoInk,
    normalise_strokes,
    prepare_signature,
    to_network_input,
)
from tests.fixtures.signatures import make_signature

ROOT = Path(__file__).resolve().parent.parent

SIGN_DATA = ROOT.parent / "shared" / "data" / "signatures" / "sign_data"


def test_blank_image_is_rejected_with_422():
    with pytest.raises(BlankImage) as err:
        prepare_signature(np.full((150, 400), 240, np.uint8))
    assert err.value.code == "blank_image" and err.value.http_status == 422


def test_tiny_image_is_rejected():
    with pytest.raises(ImageTooSmall) as err:
        prepare_signature(np.full((20, 300), 240, np.uint8))
    assert err.value.code == "image_too_small" and err.value.http_status == 422


def test_paper_with_only_noise_has_no_ink():
    rng = np.random.default_rng(0)
    paper = np.clip(230 + rng.normal(0, 4, (200, 400)), 0, 255).astype(np.uint8)
    with pytest.raises(NoInk) as err:
        prepare_signature(paper)
    assert err.value.code == "no_ink" and err.value.http_status == 422


def test_specks_alone_are_not_ink():
    paper = np.full((300, 600), 235, np.uint8)
    rng = np.random.default_rng(1)
    for y, x in rng.integers(10, 290, (30, 2)):
        paper[y, x % 590] = 40  # one-pixel dust
    with pytest.raises(NoInk):
        prepare_signature(paper)


def test_canvas_is_centred_bright_ink_on_black():
    canvas = prepare_signature(make_signature(3, 0))
    assert canvas.shape == (CANVAS_HEIGHT, CANVAS_WIDTH) and canvas.dtype == np.uint8
    assert canvas.max() > 200
    border = np.r_[canvas[0], canvas[-1], canvas[:, 0], canvas[:, -1]]
    assert border.max() == 0  # margin kept around the ink, background exactly zero
    ys, xs = np.nonzero(canvas)
    assert abs((xs.min() + xs.max()) / 2 - CANVAS_WIDTH / 2) < 3
    assert abs((ys.min() + ys.max()) / 2 - CANVAS_HEIGHT / 2) < 3
    assert to_network_input(canvas, 64, 128).shape == (64, 128)


def _phone_photo(gray: np.ndarray) -> np.ndarray:
    """The same signature photographed: 3x larger, colour, shadow across the page, a dark border."""
    big = cv2.resize(gray, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    h, w = big.shape
    shadow = np.linspace(0.55, 1.0, w)[None, :] * np.linspace(0.85, 1.0, h)[:, None]
    page = np.full((h + 120, w + 120), 60, np.float32)
    page[60:-60, 60:-60] = big * shadow
    rgb = np.dstack([page * 0.98, page, page * 0.93])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_scan_and_phone_photo_give_nearly_the_same_canvas():
    sig = make_signature(5, 1)
    scan = prepare_signature(sig).astype(np.float32)
    photo = prepare_signature(_phone_photo(sig)).astype(np.float32)
    # Compare blurred ink layouts: stroke width differs with resolution, position and shape must not.
    a, b = cv2.GaussianBlur(scan, (0, 0), 2), cv2.GaussianBlur(photo, (0, 0), 2)
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > 0.8, corr


def test_rgba_with_transparent_background_is_paper():
    sig = make_signature(2, 0)
    rgba = np.dstack([sig, sig, sig, np.where(sig < 150, 255, 0).astype(np.uint8)])
    assert prepare_signature(rgba).max() > 200


@pytest.mark.skipif(not SIGN_DATA.is_dir(), reason=f"signature data set not found at {SIGN_DATA}")
def test_real_scans_become_canvases():
    from PIL import Image

    files = sorted(SIGN_DATA.glob("0*/genuine/*.png"))[:3] + sorted(SIGN_DATA.glob("0*/forged/*.png"))[:3]
    for path in files:
        canvas = prepare_signature(np.asarray(Image.open(path).convert("L")))
        assert canvas.shape == (CANVAS_HEIGHT, CANVAS_WIDTH)
        assert 0.01 < (canvas > 0).mean() < 0.5, path


def _same_layout(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 2) for x in (a, b))
    return float(np.corrcoef(fa.ravel(), fb.ravel())[0, 1])


def test_dark_mode_capture_gives_the_same_canvas():
    sig = make_signature(5, 1)
    assert _same_layout(prepare_signature(sig), prepare_signature(255 - sig)) > 0.95
    grey_on_black = (40 + (255 - sig.astype(np.int16)) * 180 // 255).astype(np.uint8)  # light strokes on a dark-grey screen
    assert _same_layout(prepare_signature(sig), prepare_signature(grey_on_black)) > 0.95


def test_faint_tablet_strokes_are_ink():
    sig = make_signature(6, 2)
    ink = (255 - sig.astype(np.float32)) / 255.0
    for level in (200, 225):  # light grey strokes on pure white, as a stylus tablet exports them
        faint = np.clip(255 - ink * (255 - level), 0, 255).astype(np.uint8)
        assert _same_layout(prepare_signature(sig), prepare_signature(faint)) > 0.95


@pytest.mark.parametrize("grain", [2, 3, 6])
def test_paper_grain_alone_is_still_no_ink(grain):
    paper = np.clip(np.random.default_rng(grain).normal(230, grain, (200, 400)), 0, 255).astype(np.uint8)
    with pytest.raises(NoInk):
        prepare_signature(paper)


# ---- capture invariance: scans, phone photos and pen-pad strokes become the same network input


def _ink_area(canvas: np.ndarray) -> int:
    return int((canvas > 0).sum())


def _raw_scan(gray: np.ndarray) -> np.ndarray:
    """The signature as a raw office scan: twice the resolution, grey grainy paper, a darker band at the lid's edge, dust."""
    rng = np.random.default_rng(4)
    big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    page = big * 0.86 + rng.normal(0, 3, big.shape)
    page[:, :12] *= 0.7
    for y, x in rng.integers(0, min(big.shape), (20, 2)):
        page[y, x] = 90
    return np.clip(page, 0, 255).astype(np.uint8)


def test_normalise_strokes_draws_every_stroke_at_one_width():
    thin, thick = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), np.uint8), np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), np.uint8)
    cv2.line(thin, (20, 64), (230, 64), 255, 1)
    cv2.line(thick, (20, 64), (230, 64), 255, 11)
    assert _ink_area(thick) > 8 * _ink_area(thin)
    a, b = normalise_strokes(thin), normalise_strokes(thick)
    assert abs(_ink_area(a) - _ink_area(b)) <= 0.1 * _ink_area(a)
    assert set(np.unique(a)) == {0, 255}  # even darkness: no pressure or scanner grey levels left
    assert _ink_area(a) == pytest.approx(211 * STROKE_WIDTH, rel=0.1)


def test_normalise_strokes_of_an_empty_canvas_is_empty():
    assert not normalise_strokes(np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), np.uint8)).any()


@pytest.mark.parametrize("capture", ["pad", "photo", "faint", "raw_scan"])
def test_every_capture_gives_the_same_strokes_after_normalisation(capture):
    from model_export.signature.capture import CAPTURES

    sig = make_signature(5, 1)
    rng = np.random.default_rng(9)
    image = _raw_scan(sig) if capture == "raw_scan" else CAPTURES[capture](sig, rng)
    scan, other = prepare_signature(sig), prepare_signature(image)
    a, b = normalise_strokes(scan), normalise_strokes(other)
    # Same layout (a photo's tilt moves strokes by a few pixels, hence the wide blur), and the same amount of ink.
    fa, fb = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 4) for x in (a, b))
    assert np.corrcoef(fa.ravel(), fb.ravel())[0, 1] > 0.8, capture
    assert 0.8 < _ink_area(b) / _ink_area(a) < 1.25, capture


def test_pad_strokes_differ_from_the_scan_until_normalised():
    from model_export.signature.capture import pad_strokes

    sig = make_signature(7, 0)
    scan, pad = prepare_signature(sig), prepare_signature(pad_strokes(sig, np.random.default_rng(1)))
    raw_ratio = _ink_area(pad) / _ink_area(scan)
    normalised_ratio = _ink_area(normalise_strokes(pad)) / _ink_area(normalise_strokes(scan))
    assert raw_ratio < 0.8  # a pad's line is thinner than a pen's on paper ...
    assert abs(normalised_ratio - 1) < abs(raw_ratio - 1) / 2  # ... and the redrawn strokes close most of that gap


def test_histogram_counts_as_numpy_does_for_images_crops_and_pixel_lists():
    image = np.random.default_rng(3).integers(0, 256, size=(301, 517), dtype=np.uint8)
    crop = image[17:250:2, 30:400]  # a strided view, not contiguous
    for values in (image, crop, image[image < 40], np.zeros(0, np.uint8)):
        counts = histogram_u8(values)
        assert counts.dtype == np.int64
        assert np.array_equal(counts, np.bincount(values.ravel(), minlength=256))
