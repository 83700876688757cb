"""How a signature image becomes a clean, centred canvas: one definition for training and serving.

A phone photo and a 600 dpi scan of the same signature should give nearly the
same canvas. The steps:

1. grayscale, and light-on-dark captures (a dark-mode screen, white chalk
   or a negative scan) turned to dark ink on light paper;
2. flatten the paper: divide by a smooth estimate of the background, which
   removes shadows and uneven light of phone photos (a scan barely changes);
3. Otsu threshold to separate ink from paper, then drop specks (connected
   components far smaller than a pen stroke);
4. crop to the bounding box of the remaining ink;
5. invert so ink is bright on a black background (zero = no ink), keeping
   the ink's grey levels, and stretch them to full range;
6. scale to fit a fixed canvas keeping the aspect ratio, and centre it.

Images larger than `WORK_MAX_SIDE` are reduced before step 2: a phone photo
and a scan then cost the same few milliseconds.

The canvas (`CANVAS_HEIGHT` x `CANVAS_WIDTH`, uint8) does not depend on any
network: enrolment stores it, so stored references survive a model upgrade.
`to_network_input()` resizes a canvas to what a given model expects, and
`normalise_strokes()` redraws a canvas's strokes at one width (for a model
whose manifest asks for it): a pen tablet's 1 px line, a felt pen, a faint
scan and a blurred photo then differ only in the path of the pen.
"""

from __future__ import annotations

import numpy as np

from ..errors import BioauthError

CANVAS_HEIGHT = 128
CANVAS_WIDTH = 256
CANVAS_MARGIN = 4  # pixels of empty border kept around the ink on the canvas

WORK_MAX_SIDE = 640  # larger images are reduced first: 2.5x the canvas width is detail enough, and fast
MIN_IMAGE_SIDE = 32  # pixels; smaller images cannot hold a legible signature
MIN_CONTRAST = 12  # grey levels between the darkest and brightest pixel of a non-blank image
MIN_INK_CONTRAST = 20  # grey levels between ink and paper (on the flattened image); faint tablet strokes reach ~30
INK_TO_NOISE = 4.0  # ink must stand out from the paper by this many times the paper's grain (robust sd)
POLARITY_TAIL = 0.2  # percent of pixels at each end of the histogram that stand for the ink (the minority)
MIN_INK_FRACTION = 0.0005  # of the image area
MAX_INK_FRACTION = 0.5
STROKE_THRESHOLD = 32  # canvas level above which a pixel belongs to a stroke (faint edges of resized strokes are not)
STROKE_WIDTH = 3  # pixels on the canvas: every stroke is redrawn at this width around its centre line
PAPER_FRACTION = 0.4  # background darker than this share of the page's brightness is not paper (a table)  # more "ink" than paper is not a signature on paper


class SignatureImageError(BioauthError):
    """The signature image cannot be used: `blank_image`, `no_ink` or `image_too_small`."""

    code = "signature_image_invalid"
    http_status = 422
    other_codes = ("unsupported_image_shape",)


class BlankImage(SignatureImageError):
    code = "blank_image"


class NoInk(SignatureImageError):
    code = "no_ink"


class ImageTooSmall(SignatureImageError):
    code = "image_too_small"


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any 8-bit (or 16-bit) gray, RGB or RGBA array to uint8 grayscale.

    A transparent background (RGBA) is treated as white paper.
    """
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        img = rgb.astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    raise SignatureImageError(f"unsupported image shape {img.shape}", code="unsupported_image_shape")


def _level(cum: np.ndarray, q: float) -> int:
    """The grey level below which q percent of the pixels lie, from a cumulative histogram."""
    return int(np.searchsorted(cum, q / 100.0 * (int(cum[-1]) - 1), side="right"))


def dark_ink_on_light(gray: np.ndarray) -> np.ndarray:
    """Invert a light-on-dark capture: ink is the minority of pixels, so it is the tail further from the median."""
    cum = np.cumsum(histogram_u8(gray))
    median = _level(cum, 50)
    darker = median - _level(cum, POLARITY_TAIL)
    brighter = _level(cum, 100 - POLARITY_TAIL) - median
    return 255 - gray if brighter > darker else gray


EXACT_FLOAT_COUNT = 1 << 24  # OpenCV counts in float32, exact up to here


def histogram_u8(values: np.ndarray) -> np.ndarray:
    """256-bin histogram of uint8 values (int64 counts); OpenCV's is several times faster than numpy's bincount."""
    import cv2

    values = np.ascontiguousarray(values, dtype=np.uint8)
    if values.size >= EXACT_FLOAT_COUNT or values.size == 0:
        return np.bincount(values.ravel(), minlength=256)
    plane = values.reshape(1, -1) if values.ndim != 2 else values
    return cv2.calcHist([plane], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def paper_grain(flat: np.ndarray, hist: np.ndarray | None = None) -> float:
    """Robust spread of the page's grey levels (1.4826 x the median absolute deviation), from one histogram
    (`hist`, the image's own, when the caller has it already)."""
    hist = histogram_u8(flat) if hist is None else hist
    cum = np.cumsum(hist)
    median = _level(cum, 50)
    deviation = np.abs(np.arange(256) - median)
    order = np.argsort(deviation, kind="stable")
    cum_dev = np.cumsum(hist[order])
    return 1.4826 * float(deviation[order][np.searchsorted(cum_dev, (int(cum[-1]) - 1) / 2.0, side="right")])


def percentile_u8(values: np.ndarray, q: float) -> float:
    """np.percentile (linear interpolation) of uint8 data, read off a 256-bin histogram.

    Gives the same value as numpy, without numpy's sort: the percentiles of a
    page-sized image were most of the preprocessing time.
    """
    return percentile_of_histogram(histogram_u8(values), q)


def percentile_of_histogram(hist: np.ndarray, q: float) -> float:
    """np.percentile (linear interpolation) of the uint8 values a 256-bin histogram counts."""
    cum = np.cumsum(hist)
    n = int(cum[-1])
    if n == 0:
        raise ValueError("percentile of an empty array")
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    v_lo = int(np.searchsorted(cum, lo, side="right"))
    v_hi = int(np.searchsorted(cum, min(lo + 1, n - 1), side="right"))
    return v_lo + (pos - lo) * (v_hi - v_lo)


def flatten_background(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide out the paper's brightness so shadows and uneven light disappear.

    The background is estimated with a grey closing (ink is thin and dark, so a
    dilation wider than a stroke removes it), then a median filter, which
    smooths it but keeps sharp edges such as a page's border on a dark table
    (a Gaussian blur would smear them into a dark frame that looks like ink).

    Returns the flattened image and the paper mask: where the background itself
    is dark (a table around the page in a photo) there is no paper, and the
    band along the page's edge is left out too, so the edge is never read as ink.
    """
    import cv2

    h, w = gray.shape
    k = max(7, (min(h, w) // 20) | 1)
    small = gray
    scale = 1.0
    if max(h, w) > 1000:  # estimate on a smaller copy: same result, much faster
        scale = 1000.0 / max(h, w)
        small = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
        k = max(7, (int(k * scale)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    background = cv2.medianBlur(background, 5)
    if scale != 1.0:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    background = np.maximum(background, 1)
    paper_level = percentile_u8(background, 95)
    background = background.astype(np.float32)
    flat = gray.astype(np.float32) / background * 255.0
    paper = background > PAPER_FRACTION * paper_level
    if not paper.all():
        edge = max(3, k // 3)
        paper = cv2.erode(paper.astype(np.uint8), np.ones((2 * edge + 1, 2 * edge + 1), np.uint8)) > 0
    return np.minimum(flat, 255, out=flat).astype(np.uint8), paper  # never below 0: both factors are positive


def ink_mask(flat: np.ndarray, paper: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of ink pixels on the paper: Otsu threshold, then specks removed."""
    import cv2

    threshold, mask = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    mask = mask > 0
    if paper is not None:
        mask &= paper
    if not mask.any():
        raise NoInk("no ink found in the signature image")
    # One histogram of the whole image and one of the ink give the paper's too (the ink is the small part).
    whole, ink = histogram_u8(flat), histogram_u8(flat[mask])
    ink_level = percentile_of_histogram(ink, 50)
    rest = whole - ink  # every pixel that is not ink
    paper_level = percentile_of_histogram(rest, 50) if rest.any() else ink_level
    if paper_level - ink_level < max(MIN_INK_CONTRAST, INK_TO_NOISE * paper_grain(flat, whole)):
        raise NoInk(
            "no ink found in the signature image (too little contrast between strokes and paper)",
            details={"ink_contrast": round(paper_level - ink_level, 1)},
        )
    h, w = flat.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    # A speck is far smaller than a pen stroke: relative to the image and to the largest stroke.
    areas = stats[1:, cv2.CC_STAT_AREA]
    if len(areas) == 0:
        raise NoInk("no ink found in the signature image")
    min_area = max(4.0, 2e-5 * h * w, 0.002 * float(areas.max()))
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= min_area
    if not keep[1:].all():  # only specks to drop make a new mask
        mask = keep[labels]
    fraction = float(mask.mean())
    if fraction < MIN_INK_FRACTION:
        raise NoInk("no ink found in the signature image (only specks)", details={"ink_fraction": round(fraction, 6)})
    if fraction > MAX_INK_FRACTION:
        raise NoInk(
            "the image does not look like dark ink on light paper",
            details={"ink_fraction": round(fraction, 3)},
        )
    return mask


def prepare_signature(image: np.ndarray) -> np.ndarray:
    """A signature photo or scan (gray, RGB or RGBA) to the uint8 canvas, ink bright on black.

    Raises ImageTooSmall, BlankImage or NoInk (HTTP 422) when no signature can be read.
    """
    import cv2

    gray = to_gray(image)
    h, w = gray.shape
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageTooSmall(
            f"signature image is {w}x{h} pixels; at least {MIN_IMAGE_SIDE} pixels per side are needed",
            details={"width": w, "height": h, "min_side": MIN_IMAGE_SIDE},
        )
    if int(gray.max()) - int(gray.min()) < MIN_CONTRAST:
        raise BlankImage("the signature image is blank (one flat colour)")
    if max(h, w) > WORK_MAX_SIDE:
        scale = WORK_MAX_SIDE / max(h, w)
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gray = dark_ink_on_light(gray)
    flat, paper = flatten_background(gray)
    mask = ink_mask(flat, paper)

    x0, y0, box_w, box_h = cv2.boundingRect(mask.view(np.uint8))
    y1, x1 = y0 + box_h, x0 + box_w
    crop_flat = flat[y0:y1, x0:x1]
    crop_mask = mask[y0:y1, x0:x1]

    # Ink darkness, bright on black; paper is exactly zero.
    ink = (255.0 - crop_flat.astype(np.float32)) * crop_mask
    top = percentile_u8(255 - crop_flat[crop_mask], 95) if crop_mask.any() else 255.0
    ink *= 255.0 / max(top, 1.0)
    return place_on_canvas(np.minimum(ink, 255, out=ink).astype(np.uint8))  # ink is never below 0


def place_on_canvas(ink: np.ndarray, height: int = CANVAS_HEIGHT, width: int = CANVAS_WIDTH) -> np.ndarray:
    """Scale a cropped ink image to fit the canvas keeping its aspect ratio, centred."""
    import cv2

    h, w = ink.shape
    box_h, box_w = height - 2 * CANVAS_MARGIN, width - 2 * CANVAS_MARGIN
    scale = min(box_h / h, box_w / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(ink, (new_w, new_h), interpolation=interp)
    canvas = np.zeros((height, width), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def to_network_input(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    """A canvas resized to a network's input size (uint8, ink bright)."""
    import cv2

    if canvas.shape == (height, width):
        return canvas
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def normalise_strokes(canvas: np.ndarray, width: int = STROKE_WIDTH) -> np.ndarray:
    """A canvas whose strokes are redrawn at one width around their centre lines (uint8, ink 255 on 0).

    The stroke's width and grey levels say how the signature was captured (pen,
    pad, scanner, camera), not who wrote it: thin every stroke to its one-pixel
    centre line (Zhang-Suen thinning) and draw that line again with a round
    pen of `width` pixels. Works on stored canvases too, so references enrolled
    before a model used it are re-derived without new images.
    """
    import cv2

    strokes = np.where(canvas >= STROKE_THRESHOLD, 255, 0).astype(np.uint8)
    if not strokes.any():
        return strokes
    centre_lines = cv2.ximgproc.thinning(strokes, thinningType=cv2.ximgproc.THINNING_ZHANGSUEN)
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.dilate(centre_lines, pen)
