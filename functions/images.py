"""Base64 images from devices: decode, check limits, and read pixels safely.

The pixel limit is checked from the file header before any pixel is decoded,
so a small file that expands to gigabytes (a decompression bomb) is refused
without being expanded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

import numpy as np

from .errors import ImageTooLarge, InvalidBase64, InvalidImage, UnsupportedImageFormat

SUPPORTED_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[\w.-]+)*);base64,", re.IGNORECASE)


@dataclass(frozen=True)
class DecodedImage:
    """An accepted image: its original bytes and what its header says."""

    data: bytes
    format: str  # a key of SUPPORTED_FORMATS
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return SUPPORTED_FORMATS[self.format]

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else self.format


def sniff_format(data: bytes) -> str | None:
    """The format from the magic bytes, whatever the device claimed."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"GIF8",):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypavif", b"ftypmif1"):
        return "heif"
    return None


def decode_base64(value: object, *, field: str, max_bytes: int) -> bytes:
    """Plain base64 or a data URL to bytes; refuses oversized payloads before decoding them."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidBase64(f"{field} must be a non-empty base64 string", details={"field": field})
    text = value.strip()
    match = _DATA_URL.match(text)
    if match:
        text = text[match.end():]
    elif text.startswith("data:"):
        raise InvalidBase64(f"{field} is a data URL without ';base64,'", details={"field": field})
    text = "".join(text.split())  # line breaks some encoders insert; a tenth of a regex's time on 100 KB
    # 4 base64 characters carry 3 bytes: refuse before allocating the decoded copy.
    if len(text) // 4 * 3 > max_bytes + 3:
        raise ImageTooLarge(
            f"{field} is larger than the {max_bytes} byte limit",
            details={"field": field, "limit_bytes": max_bytes},
        )
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")  # URL-safe alphabet
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64(f"{field} is not valid base64: {exc}", details={"field": field}) from None
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"{field} is {len(data)} bytes, over the {max_bytes} byte limit",
            details={"field": field, "limit_bytes": max_bytes},
        )
    return data


def check_image(data: bytes, *, field: str, max_pixels: int) -> DecodedImage:
    """Accept the bytes only if they are a supported image within the pixel limit."""
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImage(f"{field} is not an image", details={"field": field})
    if fmt not in SUPPORTED_FORMATS:
        raise UnsupportedImageFormat(
            f"{field} is {fmt.upper()}; supported: {', '.join(sorted(SUPPORTED_FORMATS))}",
            details={"field": field, "format": fmt},
        )
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            width, height = im.size
            frames = getattr(im, "n_frames", 1)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{field}: {exc}", code="too_many_pixels", details={"field": field}) from None
    except Exception as exc:  # Pillow raises many types for broken files
        raise InvalidImage(f"{field} could not be read as {fmt}: {exc}", details={"field": field}) from None
    if width < 1 or height < 1:
        raise InvalidImage(f"{field} has no pixels", details={"field": field})
    if frames > 1:  # an animation would be judged on its first frame while people see the others
        raise InvalidImage(f"{field} is an animation of {frames} frames; send one still image",
                           details={"field": field, "reason": "animated", "frames": frames})
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{field} is {width}x{height} pixels, over the {max_pixels} pixel limit",
            code="too_many_pixels",
            details={"field": field, "width": width, "height": height, "limit_pixels": max_pixels},
        )
    check_decodes(data, field=field, fmt=fmt)
    return DecodedImage(data=data, format=fmt, width=width, height=height)


def check_decodes(data: bytes, *, field: str, fmt: str) -> None:
    """Decode every byte of the image, so a truncated or corrupt file is refused at intake (422 `corrupt_image`)
    instead of failing a step later. A JPEG is decoded at 1/8 scale (its DCT scaling still reads every block)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for broken data
        raise InvalidImage(f"{field} is a {fmt.upper()} whose data cannot be decoded ({exc}): it may be cut short",
                           code="corrupt_image", details={"field": field}) from None


def decode_image_field(value: object, *, field: str, max_bytes: int, max_pixels: int) -> DecodedImage:
    return check_image(decode_base64(value, field=field, max_bytes=max_bytes), field=field, max_pixels=max_pixels)


ORIENTATION_TAG = 0x0112


# Device photos larger than this on their longer side are decoded reduced: the face detector and the signature
# canvas work far below it, and a 25-megapixel photo would otherwise take 75 MB per copy.
MAX_WORKING_SIDE = 2048
# EXIF orientation -> the transpose that shows the picture upright (phones rotate by tag, not by pixels).
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
            7: "TRANSVERSE", 8: "ROTATE_90"}
_REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F")


def _load(data: bytes, mode: str, max_side: int = MAX_WORKING_SIDE) -> np.ndarray:
    """Decode with reduction: a JPEG at a DCT scale (1/2, 1/4, 1/8, never the full image), other formats reduced by
    a whole factor right after decoding, so that every later copy (mode, orientation, array) is the small one."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = im.getexif().get(ORIENTATION_TAG, 1)
            if im.format == "JPEG":
                im.draft(mode, (max_side, max_side))
            factor = -(-max(im.size) // max_side)
            if factor > 1:
                im = (im if im.mode in _REDUCIBLE_MODES else im.convert(mode)).reduce(factor)
            if "A" in im.mode or "transparency" in im.info:
                # Judged as it is seen: on white. A transparent image's hidden colours never reach a model.
                im = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im)
            if im.mode != mode:
                im = im.convert(mode)
            if orientation in _UPRIGHT:
                im = im.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))
            return np.array(im, dtype=np.uint8)
    except Exception as exc:
        raise InvalidImage(f"image could not be decoded: {exc}") from None


def load_rgb(data: bytes) -> np.ndarray:
    """Pixels as an RGB uint8 array, with the EXIF orientation applied, at most MAX_WORKING_SIDE on a side."""
    return _load(data, "RGB")


def load_gray(data: bytes) -> np.ndarray:
    """Pixels as a grayscale uint8 array, with the EXIF orientation applied, at most MAX_WORKING_SIDE on a side."""
    return _load(data, "L")


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """For pictures only people look at (the reviewers' context crop): a tenth of PNG's encoding time, like the
    device's own JPEG photo it is cut from."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless storage of the crops the models read, so review shows exactly what a model saw.

    Stored without compression: the crops are small (80x80 to 112x112) and short-lived, and on every request
    level 0 takes half the time of zlib's fastest level for about twice the bytes (20-40 KB a crop).
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()
