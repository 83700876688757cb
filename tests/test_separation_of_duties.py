"""No principal obtains another's secret: an operator issues device keys only, reviewers and operators rotate their
own keys (or an admin does), and every audit event names the key that acted."""

import numpy as np

from functions.storage.api_keys import parse_token
from tests.conftest import Client, png_b64


def _key_id(token: str) -> str:
    return parse_token(token)[0]


def test_an_operator_issues_device_keys_only(local_host, principals):
    operator = Client(local_host.url, principals["operator"])
    for role in ("reviewer", "operator"):
        r = operator.post("/api/v1/keys", json={"role": role, "principal_id": "olivia"})  # itself a reviewer, too
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_key_role"), r.text
    assert operator.post("/api/v1/keys", json={"role": "device", "principal_id": "kiosk-9"}).status_code == 201
    admin = Client(local_host.url)  # the local bootstrap admin may make any principal
    assert admin.post("/api/v1/keys", json={"role": "reviewer", "principal_id": "erin"}).status_code == 201


def test_an_operator_cannot_rotate_a_reviewers_or_another_operators_key(local_host, principals, embedded_services):
    operator = Client(local_host.url, principals["operator"])
    other_operator = embedded_services.credentials.issue("operator", "oscar", created_by="test")
    for token_or_info in (principals["reviewer"], other_operator.token):
        key_id = _key_id(token_or_info)
        r = operator.post(f"/api/v1/keys/{key_id}/rotation", json={"keep_old": True})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_key_role"), r.text
        assert "token" not in r.text
    assert len([k for k in embedded_services.credentials.all() if k.principal_id == "dana"]) == 1  # nothing was made
    rotated = operator.post(f"/api/v1/keys/{_key_id(principals['kiosk-1'])}/rotation", json={"keep_old": True})
    assert rotated.status_code == 201 and rotated.json()["principal_id"] == "kiosk-1"
    own = operator.post(f"/api/v1/keys/{_key_id(principals['operator'])}/rotation")
    assert own.status_code == 201 and own.json()["principal_id"] == "olivia"


def test_a_reviewer_rotates_its_own_key_only(local_host, principals, embedded_services):
    reviewer = Client(local_host.url, principals["reviewer"])
    other = embedded_services.credentials.issue("reviewer", "erin", created_by="test")
    assert reviewer.post(f"/api/v1/keys/{other.info.key_id}/rotation").status_code == 403
    assert reviewer.post(f"/api/v1/keys/{_key_id(principals['kiosk-1'])}/rotation").status_code == 403
    r = reviewer.post(f"/api/v1/keys/{_key_id(principals['reviewer'])}/rotation")
    assert r.status_code == 201 and r.json()["principal_id"] == "dana"
    assert Client(local_host.url, r.json()["token"]).get("/api/v1/me").json()["id"] == "dana"
    assert reviewer.get("/api/v1/me").status_code == 401  # the old key is revoked
    admin = Client(local_host.url)
    assert admin.post(f"/api/v1/keys/{other.info.key_id}/rotation").status_code == 201


def test_every_audit_event_names_the_key_that_acted(local_host, principals, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    device = Client(local_host.url, principals["kiosk-1"])
    blank = png_b64(np.full((240, 320, 3), 180, np.uint8))
    r = device.post("/api/v1/verifications", json={"subject_id": "alice", "face_image": blank, "signature_image": blank})
    assert r.status_code == 202
    assert device.get(r.headers["Location"] + "?wait=20").json()["status"] == "rejected"
    Client(local_host.url, principals["operator"]).post("/api/v1/keys", json={"role": "device", "principal_id": "kiosk-9"})
    events = embedded_services.audit.query(limit=100)
    by_action = {e.action: e for e in events}
    assert by_action["verification.created"].actor_key_id == _key_id(principals["kiosk-1"])
    assert by_action["key.created"].actor_key_id == _key_id(principals["operator"])
    assert by_action["verification.decided"].actor_key_id == "service"
    assert all(e.actor_key_id for e in events)
