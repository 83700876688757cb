"""Answers that cannot be sniffed or framed, case image links that stop when the case closes, and device keys whose
ids a device can use."""

import requests

from tests.conftest import Client
from tests.test_review import _case_in_review


def _hardened(headers) -> bool:
    return (headers.get("X-Content-Type-Options") == "nosniff" and headers.get("X-Frame-Options") == "DENY"
            and "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""))


def test_api_answers_image_links_and_the_console_are_not_sniffed_or_framed(client, embedded_services):
    _case_in_review(embedded_services)
    case = client.get("/api/v1/reviews/v1")
    assert case.status_code == 200 and _hardened(case.headers)
    assert _hardened(client.get("/api/v1/reviews/nope").headers)  # errors too
    assert _hardened(requests.get(f"{client.base}/api/health", timeout=10).headers)
    image = requests.get(case.json()["images"]["face"], timeout=10)
    assert image.status_code == 200 and _hardened(image.headers)
    assert "sandbox" in image.headers["Content-Security-Policy"]  # a script appended to an image never runs
    console = requests.get(f"{client.base}/console/", timeout=10)
    assert console.status_code == 200 and _hardened(console.headers)
    assert "script-src 'self'" in console.headers["Content-Security-Policy"]  # the page's own policy, as a header


def test_a_cases_image_links_stop_when_the_case_closes(client, embedded_services):
    _case_in_review(embedded_services)
    links = client.get("/api/v1/reviews/v1").json()["images"]
    assert all(requests.get(link, timeout=10).status_code == 200 for link in links.values())
    assert client.post("/api/v1/reviews/v1", json={"verdict": "reject"}).status_code == 200
    for link in links.values():  # still within their 15 minutes
        r = requests.get(link, timeout=10)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", link


def test_a_device_key_needs_an_id_a_device_can_use(local_host, principals):
    operator = Client(local_host.url, principals["operator"])
    r = operator.post("/api/v1/keys", json={"role": "device", "principal_id": "dev@x"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "principal_id"
    admin = Client(local_host.url)
    assert admin.post("/api/v1/keys", json={"role": "reviewer", "principal_id": "dana@example.org"}).status_code == 201
