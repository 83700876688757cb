"""Decoding device images: base64 forms, formats, byte and pixel limits (decompression bombs included)."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from functions.errors import ImageTooLarge, InvalidBase64, InvalidImage, UnsupportedImageFormat
from functions.images import decode_image_field, load_rgb

LIMITS = dict(max_bytes=1_000_000, max_pixels=4_000_000)


def _png(w=32, h=24) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 200, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a tiny compressed body: a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def test_plain_and_data_url_and_urlsafe_base64_decode_to_the_same_image():
    data = _png()
    plain = base64.b64encode(data).decode()
    for value in (plain, "data:image/png;base64," + plain, base64.urlsafe_b64encode(data).decode().rstrip("="),
                  "\n".join(plain[i:i + 76] for i in range(0, len(plain), 76))):
        image = decode_image_field(value, field="face_image", **LIMITS)
        assert (image.format, image.width, image.height) == ("png", 32, 24)


@pytest.mark.parametrize("value", ["", None, 42, "not base64 !!", "data:image/png,abc"])
def test_bad_base64_is_refused(value):
    with pytest.raises(InvalidBase64):
        decode_image_field(value, field="face_image", **LIMITS)


def test_bytes_that_are_not_an_image():
    with pytest.raises(InvalidImage) as e:
        decode_image_field(base64.b64encode(b"hello world, not an image").decode(), field="face_image", **LIMITS)
    assert e.value.code == "not_an_image"


def test_truncated_image_is_not_an_image():
    with pytest.raises(InvalidImage):
        decode_image_field(base64.b64encode(_png()[:20]).decode(), field="face_image", **LIMITS)


def test_a_gif_is_415_unsupported_format():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    with pytest.raises(UnsupportedImageFormat) as e:
        decode_image_field(base64.b64encode(buf.getvalue()).decode(), field="face_image", **LIMITS)
    assert e.value.http_status == 415


def test_too_many_bytes_is_refused_before_decoding():
    with pytest.raises(ImageTooLarge) as e:
        decode_image_field("A" * 2_000_000, field="face_image", **LIMITS)
    assert e.value.code == "image_too_large"


def test_decompression_bomb_is_refused_from_the_header():
    bomb = _bomb_png(50_000, 50_000)  # 2.5 gigapixels in a few hundred bytes
    assert len(bomb) < 1000
    with pytest.raises(ImageTooLarge) as e:
        decode_image_field(base64.b64encode(bomb).decode(), field="face_image", **LIMITS)
    assert e.value.code == "too_many_pixels"


def test_exif_orientation_is_applied():
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert load_rgb(buf.getvalue()).shape == (20, 10, 3)
