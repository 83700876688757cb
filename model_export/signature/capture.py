"""Other ways the same signature reaches the service: a pen tablet, a phone photo, a faint scan.

Training renders its writers' scans as these captures (so the network learns
that they are the same signature), and evaluation renders its test writers'
scans as pad strokes (the pad-style row of the report). Each function takes a
raw grey image (dark ink on light paper, as the data sets hold it) and returns
another raw grey image for the service's own preprocessing.
"""

from __future__ import annotations

import numpy as np

from functions.biometrics.signature_preparation import dark_ink_on_light, flatten_background, ink_mask


def ink_of(gray: np.ndarray) -> np.ndarray:
    """The ink mask of a raw image, found as the service finds it (polarity, flattened paper, Otsu, no specks)."""
    flat, paper = flatten_background(dark_ink_on_light(gray))
    return ink_mask(flat, paper)


def pad_strokes(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As drawn on a pen tablet: the strokes' centre lines at 1-2 px, even darkness, on a clean white page.

    The image is first enlarged 1-2x (a pad samples the pen finer than these
    scans), so the drawn line is also thin relative to the signature.
    """
    import cv2

    scale = float(rng.choice([1.0, 1.5, 2.0]))
    mask = ink_of(gray).astype(np.uint8) * 255
    if scale != 1.0:
        mask = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    centre = cv2.ximgproc.thinning(mask)
    width = int(rng.choice([1, 2]))
    if width > 1:
        centre = cv2.dilate(centre, np.ones((width, width), np.uint8))
    ink_level = int(rng.integers(0, 70))
    page = np.full(centre.shape, 255, np.uint8)
    page[centre > 0] = ink_level
    if rng.random() < 0.5:  # anti-aliased rendering
        page = cv2.GaussianBlur(page, (3, 3), 0.6)
    pad = int(8 * scale)
    return cv2.copyMakeBorder(page, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def phone_photo(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As photographed by a phone: grey paper, a tilt (perspective), blur, uneven light, sensor noise, JPEG."""
    import cv2

    h, w = gray.shape
    pad = max(h, w) // 8
    page = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    ph, pw = page.shape
    corners = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    jitter = rng.uniform(-0.06, 0.06, (4, 2)) * np.float32([pw, ph])
    warp = cv2.getPerspectiveTransform(corners, (corners + jitter).astype(np.float32))
    page = cv2.warpPerspective(page, warp, (pw, ph), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    page = page.astype(np.float32) * rng.uniform(0.75, 0.95)  # grey paper under room light
    sigma = rng.uniform(0.3, 1.4)
    page = cv2.GaussianBlur(page, (0, 0), sigma)
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / pw + np.sin(angle) * yy / ph)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - rng.uniform(0.15, 0.45) * ramp  # a shadow across the page
    page = page * light + rng.normal(0, rng.uniform(1.5, 5.0), page.shape)
    page = np.clip(page, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 90))])
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)


def faint_scan(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As a light scan of a thin pen: ink at a third to a half of its darkness, a little scanner noise."""
    ink = 255.0 - gray.astype(np.float32)
    page = 255.0 - ink * rng.uniform(0.3, 0.5) - rng.uniform(0, 12)
    page += rng.normal(0, rng.uniform(0.5, 2.0), page.shape)
    return np.clip(page, 0, 255).astype(np.uint8)


CAPTURES = {"pad": pad_strokes, "photo": phone_photo, "faint": faint_scan}
