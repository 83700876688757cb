"""Idempotency-Key: a retried POST returns the first verification instead of creating a second."""

import numpy as np
import pytest

from functions.runtime.step_runner import VERIFICATIONS
from tests.conftest import png_b64


def _request(device="kiosk-1", shade=180):
    blank = np.full((120, 160, 3), shade, np.uint8)  # no face: face-crop -> decide, quickly
    return {"subject_id": "alice", "device_id": device, "face_image": png_b64(blank), "signature_image": png_b64(blank)}


@pytest.fixture
def alice(embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    return embedded_services


def test_the_same_key_and_body_return_the_first_verification(client, alice):
    first = client.post("/api/v1/verifications", json=_request(), headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/v1/verifications", json=_request(), headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(alice.records.query(VERIFICATIONS, "subject_id", "alice")) == 1


def test_a_sync_retry_gets_the_first_decision(client, alice):
    first = client.post("/api/v1/verifications?mode=sync", json=_request(), headers={"Idempotency-Key": "k-2"})
    again = client.post("/api/v1/verifications?mode=sync", json=_request(), headers={"Idempotency-Key": "k-2"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and first.json()["status"] == "rejected"
    assert len(alice.records.query(VERIFICATIONS, "subject_id", "alice")) == 1
    assert all(alice.queues.count(q) == 0 for q in ("face-crop", "decide"))  # the held first message was deleted


def test_the_same_key_with_another_body_is_refused(client, alice):
    assert client.post("/api/v1/verifications", json=_request(), headers={"Idempotency-Key": "k-3"}).status_code == 202
    r = client.post("/api/v1/verifications", json=_request(shade=90), headers={"Idempotency-Key": "k-3"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(alice.records.query(VERIFICATIONS, "subject_id", "alice")) == 1


def test_keys_are_scoped_to_the_device(client, alice):
    a = client.post("/api/v1/verifications", json=_request("kiosk-1"), headers={"Idempotency-Key": "k-4"}).json()
    b = client.post("/api/v1/verifications", json=_request("kiosk-2"), headers={"Idempotency-Key": "k-4"}).json()
    assert a["id"] != b["id"]


@pytest.mark.parametrize("key", ["", "x" * 129, "with space", "caf\u00e9"])
def test_bad_keys_are_refused(client, alice, key):
    r = client.post("/api/v1/verifications", json=_request(), headers={"Idempotency-Key": key.encode("utf-8")})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_idempotency_key")


@pytest.fixture(params=["embedded", pytest.param("azurite", marks=pytest.mark.azurite)])
def queues(request):
    services = request.getfixturevalue("embedded_services" if request.param == "embedded" else "azurite_services")
    services.queues.ensure_queues(["held"])
    return services.queues


def test_a_held_message_returns_when_its_sender_stops_renewing(queues):
    """What ?mode=sync relies on: its first message stays hidden while renewed, and comes back if the process dies."""
    import time

    held = queues.send("held", "first", visibility_delay=1)
    assert queues.receive("held", 4, 30) == []
    queues.renew("held", held, 2)
    time.sleep(1.2)
    assert queues.receive("held", 4, 30) == []  # renewed: still hidden
    assert queues.oldest_age("held") is not None or queues.backend != "sqlite"
    time.sleep(1.5)
    back = queues.receive("held", 4, 30)
    assert [m.text for m in back] == ["first"]  # nobody renewed it: a poller gets it
    queues.delete("held", back[0])
    assert queues.oldest_age("held") is None
