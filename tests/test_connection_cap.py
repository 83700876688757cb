"""The local host serves at most `max_connections` connections at once: half-sent requests beyond it are answered
503 at once instead of each holding a thread until the read timeout."""

import json
import socket
import time

from tests.conftest import Client, start_host


def test_half_sent_requests_beyond_the_cap_are_refused_at_once_and_the_host_recovers(embedded_services):
    host = start_host(embedded_services, lease_seconds=10, max_connections=4)
    held = []
    try:
        for _ in range(4):  # each sends half a request line and stops
            s = socket.create_connection(("127.0.0.1", host.port), timeout=5)
            s.sendall(b"POST /api/v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Le")
            held.append(s)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", host.port), timeout=5)
        extra.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = extra.recv(4096)
        assert time.monotonic() - started < 2  # not after the 30 s read timeout
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["error"]["code"] == "service_unavailable"
        extra.close()
        for s in held:
            s.close()
        deadline = time.time() + 5
        while time.time() < deadline:  # the held threads end when their clients go
            if Client(host.url).get("/api/health").status_code == 200:
                break
            time.sleep(0.1)
        assert Client(host.url).get("/api/health").status_code == 200
    finally:
        for s in held:
            s.close()
        host.stop()
