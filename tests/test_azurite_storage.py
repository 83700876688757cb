"""The Azure Blob and Queue adapters against Azurite (the real SDK code paths)."""

import base64
import time

import pytest
import requests

pytestmark = pytest.mark.azurite


def test_blobs_round_trip_and_prefix_delete(azurite_services):
    blobs = azurite_services.blobs
    ref = blobs.put("images", "verifications/v1/face.jpg", b"jpeg bytes", "image/jpeg")
    blobs.put("images", "verifications/v1/signature.png", b"png bytes", "image/png")
    blobs.put("images", "verifications/v2/face.jpg", b"other", "image/jpeg")
    assert blobs.get(ref) == b"jpeg bytes"
    assert requests.get(blobs.inner.service.url + "images/verifications/v1/face.jpg", timeout=10).status_code in (401, 403, 404)
    assert blobs.delete_prefix("images", "verifications/v1/") == 2
    with pytest.raises(KeyError):
        blobs.get(ref)
    assert blobs.get("images/verifications/v2/face.jpg") == b"other"


def test_queue_lease_dequeue_count_release_and_renew(azurite_services):
    q = azurite_services.queues
    name = f"t{int(time.time() * 1000)}"
    q.ensure_queues([name])
    q.send(name, '{"verification_id":"v1"}')
    m = q.receive(name, 4, lease_seconds=1)[0]
    assert m.text == '{"verification_id":"v1"}' and m.dequeue_count == 1
    q.renew(name, m, lease_seconds=3)
    time.sleep(1.5)
    assert q.receive(name, 4, lease_seconds=1) == []  # the renewed lease still hides it
    q.release(name, m, delay_seconds=0)
    again = q.receive(name, 4, lease_seconds=30)[0]
    assert again.dequeue_count == 2
    q.ensure_queues([name + "-next"])
    q.hand_on(name, again, [(name + "-next", "out")])
    assert q.count(name) == 0
    assert [m.text for m in q.receive(name + "-next", 4, lease_seconds=30)] == ["out"]


def test_messages_are_base64_on_the_wire_as_the_functions_host_expects(azurite_services, azurite_connection):
    from azure.storage.queue import QueueClient

    name = f"wire{int(time.time() * 1000)}"
    azurite_services.queues.ensure_queues([name])
    azurite_services.queues.send(name, '{"verification_id":"v9"}')
    raw = QueueClient.from_connection_string(azurite_connection, name).peek_messages()[0].content
    assert base64.b64decode(raw) == b'{"verification_id":"v9"}'
