"""Every bad request gets its 4xx code and a JSON body saying what and why; the service stays up."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import png_b64

GOOD = png_b64(np.full((64, 64, 3), 128, np.uint8))


def _gif():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    return base64.b64encode(buf.getvalue()).decode()


def _truncated(fmt: str) -> str:
    """A real photo-like image cut to 60% of its bytes: the header reads, the pixels do not."""
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(buf, format=fmt)
    data = buf.getvalue()
    return base64.b64encode(data[: len(data) * 6 // 10]).decode()


def _body(**kw):
    body = {"subject_id": "alice", "device_id": "kiosk", "face_image": GOOD, "signature_image": GOOD}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


CASES = [
    ("missing subject", _body(subject_id=None), 400, "missing_field"),
    ("missing face", _body(face_image=None), 400, "missing_field"),
    ("missing signature", _body(signature_image=None), 400, "missing_field"),
    ("bad subject id", _body(subject_id="../etc"), 400, "invalid_field"),
    ("bad base64", _body(face_image="@@@not-base64@@@"), 400, "invalid_base64"),
    ("not an image", _body(signature_image=base64.b64encode(b"plain text").decode()), 422, "not_an_image"),
    ("unsupported format", _body(face_image=_gif()), 415, "unsupported_format"),
    ("truncated jpeg", _body(face_image=_truncated("JPEG")), 422, "corrupt_image"),
    ("truncated png", _body(signature_image=_truncated("PNG")), 422, "corrupt_image"),
    ("bad callback", _body(callback_url="ftp://x"), 400, "invalid_callback_url"),
    ("unknown subject", _body(subject_id="nobody"), 404, "unknown_subject"),
]


@pytest.fixture
def enrolled_alice(embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})


@pytest.mark.parametrize("name, body, status, code", CASES, ids=[c[0] for c in CASES])
def test_each_bad_verification_request_gets_its_4xx_code_and_the_service_stays_up(client, enrolled_alice, name, body, status, code):
    r = client.post("/api/v1/verifications", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert client.get("/api/health").status_code == 200


def test_a_body_that_is_not_json_is_400_invalid_json(client):
    r = client.post("/api/v1/verifications", data=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_json")


def test_image_over_the_byte_limit(embedded_services, enrolled_alice, client):
    limit = embedded_services.settings.max_image_bytes
    big = base64.b64encode(b"\xff\xd8\xff" + b"\x00" * (limit + 10)).decode()
    r = client.post("/api/v1/verifications", json=_body(face_image=big))
    assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large")


def test_oversized_body_is_refused_before_reading(client, embedded_services):
    limit = embedded_services.settings.max_body_bytes
    r = client.post("/api/v1/verifications", data=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "body_too_large")
    assert client.get("/api/health").status_code == 200


def test_missing_key_and_unknown_route(client):
    import requests

    assert requests.post(client.url("/api/v1/verifications"), json=_body(), timeout=10).status_code == 401
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/api/v1/verifications/unknown-id").json()["error"]["code"] == "not_found"


def test_bad_enrolment_bodies_are_400_and_erasing_an_unknown_subject_is_404(client):
    r = client.post("/api/v1/subjects/alice/enrolment", json={"face_images": "x", "signature_images": []})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field")
    r = client.post("/api/v1/subjects/alice/enrolment", json={"signature_images": [GOOD]})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "missing_field")
    r = client.post("/api/v1/subjects/alice/enrolment", json={"face_images": [GOOD], "signature_images": [GOOD]})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field")  # fewer than 3 signatures
    assert client.delete("/api/v1/subjects/nobody").status_code == 404
