"""Simulate a printed-photo attack from any face photo, for demos and tests that must run without the datasets.

`make_print_attack(image_rgb, seed)` imitates what a webcam sees when someone
holds up a printed photograph, as in the NUAA attacks: the print's reduced
dynamic range and colour cast, halftone dots and paper grain, a white paper
margin, the sheet tilted in the hand in front of a background, and the
recapture's slight defocus, sensor noise and JPEG compression.

`python scripts/sample_spoof.py out.jpg` writes the attack made from
scikit-image's astronaut photo.
"""

from __future__ import annotations

import sys

import numpy as np


def _print_photo(image_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo as printed on paper: compressed tones, colour cast, halftone and grain, white margin."""
    import cv2

    img = image_rgb.astype(np.float32) / 255.0
    # Ink on paper: blacks are grey, whites are paper-coloured, mid-tones flattened.
    img = 0.12 + 0.72 * img ** rng.uniform(1.1, 1.3)
    paper = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.86, 0.93)], dtype=np.float32)  # warm paper
    img = img * paper
    # Halftone: a fine dot screen at an angle, stronger in mid-tones.
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3.0, 4.5)
    angle = np.deg2rad(rng.uniform(15, 45))
    u = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) * 2 * np.pi / period
    screen = (np.cos(u) * np.cos(v))[:, :, None]
    img = img + 0.06 * screen * (1.0 - np.abs(2 * img - 1))
    # Paper grain: fine noise plus blotchy low-frequency unevenness.
    grain = rng.normal(0, 0.02, (h, w, 1)).astype(np.float32)
    blotch = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(h, w) / 20)[:, :, None]
    img = img + grain + 0.04 * blotch / (np.abs(blotch).max() + 1e-6)
    # White paper margin around the printed area.
    margin = int(0.05 * max(h, w))
    sheet = np.ones((h + 2 * margin, w + 2 * margin, 3), dtype=np.float32) * paper * 0.9
    sheet[margin : margin + h, margin : margin + w] = img
    return np.clip(sheet, 0, 1)


def make_print_attack(image_rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """A printed-photo presentation of `image_rgb` as a camera would capture it; same size and dtype (uint8 RGB)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = image_rgb.shape[:2]
    sheet = _print_photo(image_rgb, rng)
    sh, sw = sheet.shape[:2]

    # The room behind the sheet: a dim, uneven wall.
    base = rng.uniform(0.25, 0.45, size=3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.8 + 0.4 * (xx / w) * rng.uniform(0.5, 1.0)
    scene = np.clip(base * shade[:, :, None], 0, 1)

    # The sheet held a little smaller than the frame, tilted and turned in the hand.
    fill = rng.uniform(0.82, 0.92)
    out_w, out_h = fill * w, fill * h
    cx, cy = w / 2 + rng.uniform(-0.04, 0.04) * w, h / 2 + rng.uniform(-0.03, 0.03) * h
    rot = np.deg2rad(rng.uniform(-7, 7))
    keystone = rng.uniform(0.03, 0.07) * out_w  # top edge further from the camera than the bottom
    corners = np.array(
        [[-out_w / 2 + keystone, -out_h / 2], [out_w / 2 - keystone, -out_h / 2], [out_w / 2, out_h / 2], [-out_w / 2, out_h / 2]],
        dtype=np.float32,
    )
    r = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]], dtype=np.float32)
    dst = corners @ r.T + np.array([cx, cy], dtype=np.float32)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(sheet, m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((sh, sw), np.float32), m, (w, h), flags=cv2.INTER_LINEAR)[:, :, None]
    # Light falls unevenly on the sheet (a gradient across it).
    light = 0.85 + 0.25 * ((xx + yy) / (w + h))[:, :, None] * rng.uniform(0.6, 1.0)
    frame = scene * (1 - mask) + warped * light * mask

    # Recapture: slight defocus, sensor noise, a webcam's JPEG.
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.8, 1.3))
    frame = frame + rng.normal(0, 0.012, frame.shape).astype(np.float32)
    out = np.clip(frame * 255, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 86))])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def main(argv: list[str]) -> int:
    import cv2
    from skimage import data

    out = argv[0] if argv else "print_attack.jpg"
    attack = make_print_attack(data.astronaut(), seed=int(argv[1]) if len(argv) > 1 else 0)
    cv2.imwrite(out, attack[:, :, ::-1])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
