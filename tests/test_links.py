"""Image links in webhooks, review cases and the console come from the configured public base URL, never the Host header."""

import json

import numpy as np
import requests

from functions.messages import StepMessage
from functions.runtime.step_runner import VERIFICATIONS, run_step
from functions.steps.table import STEPS
from tests.conftest import FUNCTION_KEY, png_b64
from tests.helpers.receivers import Receiver
from tests.test_review import _case_in_review

SPOOFED = "evil.example"


def _links(value) -> list[str]:
    if isinstance(value, dict):
        return [link for v in value.values() for link in _links(v)]
    if isinstance(value, list):
        return [link for v in value for link in _links(v)]
    return [value] if isinstance(value, str) and "/api/v1/" in value else []


def _spoofed_post_then_review(client, services, receiver) -> dict:
    """A verification POSTed with a spoofed Host header, then sent to review: the webhook's payload."""
    services.records.upsert("subjects", {"id": "alice"})
    blank = png_b64(np.full((120, 160, 3), 190, np.uint8))
    r = client.post("/api/v1/verifications", json={"subject_id": "alice", "device_id": "kiosk", "face_image": blank,
                                                    "signature_image": blank}, headers={"Host": SPOOFED})
    assert r.status_code == 202, r.text
    vid = client.wait_terminal(r.headers["Location"])["id"]
    record = services.records.get(VERIFICATIONS, vid)
    record.pop("_etag")
    record["status"] = "review"
    record["steps"].pop("review", None)
    services.records.upsert(VERIFICATIONS, record)
    run_step(STEPS, "review", StepMessage(vid, "alice", record["images"]).to_json(), 1, services)
    assert SPOOFED not in json.dumps(record)
    return json.loads(receiver.calls[-1][1])


def test_links_use_the_local_hosts_own_address_when_no_public_base_url_is_set(settings_env, loopback_callbacks):
    from functions.runtime.services import get_services
    from tests.conftest import Client, start_host

    receiver = Receiver()
    settings_env.setenv("BIOAUTH_REVIEW_WEBHOOK_URL", receiver.url)
    services = get_services()
    host = start_host(services, lease_seconds=10)
    try:
        client = Client(host.url)
        payload = _spoofed_post_then_review(client, services, receiver)
        links = _links(payload)
        assert links and all(link.startswith(host.url + "/api/v1/") for link in links), links
        _case_in_review(services)
        case = client.get("/api/v1/reviews/v1", headers={"Host": SPOOFED}).json()
        case_links = _links(case["images"])
        assert case_links and all(link.startswith(host.url + "/api/v1/blobs/") for link in case_links), case_links
        assert requests.get(case_links[0], timeout=10).status_code == 200
    finally:
        host.stop()
        receiver.close()


def test_links_use_the_configured_public_base_url_whatever_the_host_header(settings_env, loopback_callbacks):
    from functions.runtime.services import get_services
    from tests.conftest import Client, start_host

    receiver = Receiver()
    settings_env.setenv("BIOAUTH_REVIEW_WEBHOOK_URL", receiver.url)
    settings_env.setenv("BIOAUTH_PUBLIC_BASE_URL", "https://bioauth.example/")
    services = get_services()
    host = start_host(services, lease_seconds=10)
    try:
        client = Client(host.url)
        payload = _spoofed_post_then_review(client, services, receiver)
        assert payload["verdict_url"].startswith("https://bioauth.example/api/v1/reviews/")
        assert all(link.startswith("https://bioauth.example/api/v1/blobs/") for link in _links(payload["images"]))
        _case_in_review(services)
        case = requests.get(f"{host.url}/api/v1/reviews/v1", headers={"Host": SPOOFED, "x-functions-key": FUNCTION_KEY},
                            timeout=10).json()
        assert all(link.startswith("https://bioauth.example/api/v1/blobs/") for link in _links(case["images"]))
    finally:
        host.stop()
        receiver.close()
