"""Callbacks: a device that gives callback_url gets one signed POST when its request ends, failed included."""

import json
import time
from dataclasses import replace

import numpy as np

from functions.runtime.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_body_signature
from functions.steps.table import STEPS
from tests.conftest import png_b64
from tests.test_review import Receiver


def _wait_for(receiver, n=1, timeout=30):
    deadline = time.time() + timeout
    while len(receiver.calls) < n and time.time() < deadline:
        time.sleep(0.05)
    return receiver.calls


def _body(callback):
    blank = np.full((200, 300, 3), 190, np.uint8)
    return {"subject_id": "alice", "device_id": "door-7", "face_image": png_b64(blank), "signature_image": png_b64(blank),
            "callback_url": callback}


def test_the_device_is_called_back_once_with_the_decision(client, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    receiver = Receiver()
    try:
        r = client.post("/api/v1/verifications", json=_body(receiver.url))
        final = client.wait_terminal(r.headers["Location"])
        calls = _wait_for(receiver)
        headers, body = calls[0]
        assert check_body_signature(body, embedded_services.secrets.review_webhook_secret,
                                    headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()])
        payload = json.loads(body)
        assert payload["verification_id"] == final["id"] and payload["status"] == "rejected"
        assert payload["decision"]["reasons"] == ["no_face"]
        time.sleep(0.5)
        assert len(receiver.calls) == 1
        steps = client.get(r.headers["Location"]).json()["steps"]
        assert steps["notify"]["result"]["status"] == "delivered"
    finally:
        receiver.close()


def test_a_failed_request_is_called_back_too(client, embedded_services, monkeypatch):
    from functions.errors import ModelNotInstalled

    def not_installed(ctx):
        raise ModelNotInstalled("model 'x' is not installed")

    monkeypatch.setitem(STEPS.steps, "decide", replace(STEPS["decide"], function=not_installed))
    embedded_services.records.upsert("subjects", {"id": "alice"})
    receiver = Receiver()
    try:
        r = client.post("/api/v1/verifications", json=_body(receiver.url))
        assert client.wait_terminal(r.headers["Location"])["status"] == "failed"
        payload = json.loads(_wait_for(receiver)[0][1])
        assert payload["status"] == "failed" and payload["failure"]["code"] == "model_not_installed"
    finally:
        receiver.close()
