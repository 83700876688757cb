"""Strict JSON (UTF-8 without BOM, no repeated keys, no NaN) and images judged as seen (no animations; transparency
on white)."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from functions.errors import InvalidImage
from functions.images import check_image, load_gray, load_rgb
from tests.conftest import png_b64

BLANK = png_b64(np.full((240, 320, 3), 180, np.uint8))


def _body(**extra) -> dict:
    return {"subject_id": "alice", "device_id": "kiosk-1", "face_image": BLANK, "signature_image": BLANK, **extra}


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf" + json.dumps(_body()).encode(),  # a byte order mark
    json.dumps(_body()).encode("utf-16"),
    json.dumps(_body()).encode("utf-16-le"),
    json.dumps(_body())[:-1].encode() + b', "subject_id": "bob"}',  # a repeated key
    json.dumps(_body())[:-1].encode() + b', "extra": NaN}',
    json.dumps(_body())[:-1].encode() + b', "extra": -Infinity}',
])
def test_json_that_is_not_strict_is_refused_with_400(client, embedded_services, raw):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    r = client.http.post(f"{client.base}/api/v1/verifications", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text


def test_strict_json_still_passes(client, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    r = client.http.post(f"{client.base}/api/v1/verifications", data=json.dumps(_body(note="é")).encode("utf-8"),
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def _encode(frames: list[Image.Image], fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=len(frames) > 1, append_images=frames[1:], **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_image_is_refused(fmt):
    frames = [Image.new("RGB", (64, 64), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    with pytest.raises(InvalidImage) as refused:
        check_image(_encode(frames, fmt, duration=100), field="face_image", max_pixels=10**7)
    assert refused.value.details["reason"] == "animated" and refused.value.details["frames"] == 3
    check_image(_encode(frames[:1], fmt), field="face_image", max_pixels=10**7)  # one frame is fine


def test_a_transparent_image_is_judged_on_white_not_on_its_hidden_colours():
    hidden = np.zeros((48, 48, 4), np.uint8)
    hidden[..., :3] = (10, 120, 30)  # colours a viewer never sees: alpha 0 everywhere
    data = base64.b64decode(png_b64(hidden))
    assert (load_rgb(data) == 255).all() and (load_gray(data) == 255).all()
    ink = np.zeros((48, 48, 4), np.uint8)
    ink[20:28, :, 3] = 255  # a black stroke on a transparent background, as signature pads export
    gray = load_gray(base64.b64decode(png_b64(ink)))
    assert (gray[20:28] == 0).all() and (gray[:20] == 255).all()
