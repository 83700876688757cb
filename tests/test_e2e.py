"""End to end through real HTTP on localhost: the local host runs the real function_app on the embedded
default and on Azurite (Blob + Queue; records in SQLite)."""

import numpy as np
import pytest

from tests.conftest import FUNCTION_KEY, Client, png_b64, start_host


@pytest.fixture(params=["embedded", pytest.param("azurite", marks=pytest.mark.azurite)])
def backend(request):
    services = request.getfixturevalue("embedded_services" if request.param == "embedded" else "azurite_services")
    host = start_host(services, lease_seconds=30)
    yield services, Client(host.url)
    host.stop()


def test_a_photo_without_a_face_is_rejected_with_its_reason_async_and_sync(backend):
    services, client = backend
    services.records.upsert("subjects", {"id": "carol"})
    blank = np.full((240, 320, 3), 200, np.uint8)
    body = {"subject_id": "carol", "device_id": "t", "face_image": png_b64(blank), "signature_image": png_b64(blank)}
    r = client.post("/api/v1/verifications", json=body)
    assert r.status_code == 202 and r.headers["Location"].endswith(r.json()["id"])
    final = client.wait_terminal(r.headers["Location"])
    assert (final["status"], final["decision"]["reasons"]) == ("rejected", ["no_face"])
    assert final["steps"]["face-crop"]["duration_ms"] > 0
    sync = client.post("/api/v1/verifications?mode=sync", json=body)
    assert sync.status_code == 200 and sync.json()["status"] == "rejected"
    health = client.get("/api/health").json()
    assert health["storage"]["queues"] == ("sqlite" if services.queues.backend == "sqlite" else "azure-queue")
