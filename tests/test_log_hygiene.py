"""Secrets and biometric data never appear in logs, whatever path a request takes."""

import base64
import logging

import numpy as np

from tests.conftest import png_b64


def test_no_image_bytes_keys_or_templates_in_the_logs(client, embedded_services, caplog):
    caplog.set_level(logging.DEBUG)
    embedded_services.records.upsert("subjects", {"id": "alice"})
    rng = np.random.default_rng(0)
    face = png_b64(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    signature = png_b64(rng.integers(0, 255, (80, 200, 3), dtype=np.uint8))
    body = {"subject_id": "alice", "device_id": "kiosk", "face_image": face, "signature_image": signature}
    r = client.post("/api/v1/verifications", json=body)
    client.wait_terminal(r.headers["Location"])
    client.post("/api/v1/verifications?mode=sync", json=body)
    client.post("/api/v1/verifications", json={**body, "face_image": "!!" + face[:500]})  # a bad request
    client.post("/api/v1/subjects/alice/enrolment", json={"face_images": [face], "signature_images": [signature] * 3})

    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert len(caplog.records) > 0
    for sample in (face[100:160], signature[100:160], face[-60:]):
        assert sample not in text
    secrets = embedded_services.secrets
    for key in (secrets.template_key, secrets.template_secret, secrets.review_webhook_secret, secrets.link_signing_key,
                secrets.callback_secret):
        assert base64.b64encode(key).decode() not in text and key.hex() not in text
    assert "Secrets(<hidden>)" == repr(secrets)
