"""Who may do what, each attack as it was tried against the service: a device key enrolling, erasing, reviewing;
a reviewer's name taken from the body; anonymous health listing models; a closed case served as open; no limit per key."""

from __future__ import annotations

import requests
import numpy as np
import pytest

from functions.runtime.step_runner import VERIFICATIONS
from tests.conftest import FUNCTION_KEY, Client, png_b64, start_host
from tests.test_review import _case_in_review


@pytest.fixture
def as_(local_host, principals):
    """A client per principal: as_("kiosk-1"), as_("operator"), as_("reviewer"), as_(None) for no credential."""

    def client(name: str | None) -> Client:
        if name is None:
            c = Client(local_host.url)
            c.http.headers.pop("x-functions-key")
            return c
        return Client(local_host.url, principals[name])

    return client


def _enrolment_body() -> dict:
    grey = png_b64(np.full((64, 64, 3), 128, np.uint8))
    return {"face_images": [grey], "signature_images": [grey] * 3}


def _verification_body(subject: str = "alice", **extra) -> dict:
    blank = png_b64(np.full((120, 160, 3), 200, np.uint8))
    return {"subject_id": subject, "face_image": blank, "signature_image": blank, **extra}


def test_a_device_key_cannot_enrol_renew_or_erase_a_subject(as_, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice", "token": "original"})
    device = as_("kiosk-1")
    for method, path, body in (("post", "/api/v1/subjects/alice/enrolment", _enrolment_body()),
                               ("post", "/api/v1/subjects/alice/renewal", None),
                               ("delete", "/api/v1/subjects/alice", None)):
        r = getattr(device, method)(path, **({"json": body} if body else {}))
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "forbidden_role"
        assert r.json()["error"]["details"] == {"role": "device", "needs": ["operator"]}
    assert embedded_services.records.get("subjects", "alice")["token"] == "original"  # untouched
    # The operator may; and the erasure is in the audit trail under the operator's name.
    assert as_("operator").delete("/api/v1/subjects/alice").status_code == 204
    erased = [e for e in embedded_services.audit.query(actor_id="olivia") if e.action == "subject.erased"]
    assert len(erased) == 1 and erased[0].actor_role == "operator"


def test_a_device_key_cannot_see_or_close_a_review(as_, local_host, embedded_services):
    _case_in_review(embedded_services)
    device = as_("kiosk-1")
    for r in (device.get("/api/v1/reviews"), device.get("/api/v1/reviews/v1"),
              device.post("/api/v1/reviews/v1", json={"verdict": "accept", "presentation": "bona_fide", "reviewer": "r1"})):
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_role"), r.text
    assert embedded_services.records.get(VERIFICATIONS, "v1")["status"] == "review"
    assert embedded_services.records.get("reviews", "v1") is None  # no poisoned training label
    # Nor may an operator: verdicts are a reviewer's.
    assert as_("operator").post("/api/v1/reviews/v1", json={"verdict": "accept"}).status_code == 403


def test_the_reviewer_is_named_by_the_credential_never_by_the_body(as_, local_host, embedded_services):
    _case_in_review(embedded_services)
    r = as_("reviewer").post("/api/v1/reviews/v1", json={"verdict": "reject", "presentation": "attack", "reviewer": "mallory"})
    assert r.status_code == 200, r.text
    assert r.json()["review"]["reviewer"] == "Dana" and r.json()["review"]["reviewer_id"] == "dana"
    pair = embedded_services.records.get("reviews", "v1")
    assert (pair["reviewer"], pair["reviewer_id"]) == ("Dana", "dana")
    verdicts = [e for e in embedded_services.audit.query(subject_id="alice") if e.action == "review.verdict"]
    assert [(e.actor_id, e.actor_role, e.details["verdict"]) for e in verdicts] == [("dana", "reviewer", "reject")]


def test_a_closed_case_is_not_served_as_open(as_, local_host, embedded_services):
    _case_in_review(embedded_services)
    reviewer = as_("reviewer")
    assert reviewer.get("/api/v1/reviews/v1").status_code == 200
    assert reviewer.post("/api/v1/reviews/v1", json={"verdict": "accept"}).status_code == 200
    r = reviewer.get("/api/v1/reviews/v1")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_in_review")
    assert "images" not in r.json()  # no fresh image links for a closed case
    assert reviewer.get("/api/v1/reviews/nope").status_code == 404


def test_a_device_creates_verifications_as_itself_and_reads_only_its_own(as_, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    mine = as_("kiosk-1").post("/api/v1/verifications", json=_verification_body())
    assert mine.status_code == 202, mine.text
    vid = mine.json()["id"]
    assert embedded_services.records.get(VERIFICATIONS, vid)["device_id"] == "kiosk-1"  # from the key, not the body
    spoofed = as_("kiosk-1").post("/api/v1/verifications", json=_verification_body(device_id="kiosk-2"))
    assert (spoofed.status_code, spoofed.json()["error"]["code"]) == (403, "device_mismatch")
    assert as_("kiosk-1").get(f"/api/v1/verifications/{vid}").status_code == 200
    other = as_("kiosk-2").get(f"/api/v1/verifications/{vid}")
    assert (other.status_code, other.json()["error"]["code"]) == (404, "not_found")  # as if it did not exist
    assert as_("operator").get(f"/api/v1/verifications/{vid}").status_code == 200
    assert as_("reviewer").post("/api/v1/verifications", json=_verification_body()).status_code == 403
    created = [e for e in embedded_services.audit.query(device_id="kiosk-1") if e.action == "verification.created"]
    assert [(e.actor_id, e.actor_role, e.verification_id, e.subject_id) for e in created] == [("kiosk-1", "device", vid, "alice")]


def test_every_verification_and_its_decision_are_in_the_audit_trail(as_, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "alice"})
    r = as_("kiosk-1").post("/api/v1/verifications?mode=sync", json=_verification_body())
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text  # a blank photo: no face
    events = embedded_services.audit.query(subject_id="alice")
    assert [(e.action, e.actor_id, e.actor_role) for e in events] == [
        ("verification.created", "kiosk-1", "device"), ("verification.decided", "bioauth", "service")]
    assert events[1].details["outcome"] == "rejected" and events[1].details["reasons"] == ["no_face"]
    assert events[1].verification_id == r.json()["id"] and events[1].device_id == "kiosk-1"


def test_anonymous_health_shows_liveness_only_and_details_need_an_operator(as_):
    anonymous = as_(None).get("/api/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    assert b"sha256" not in anonymous.content and b"face-crop" not in anonymous.content
    assert as_(None).get("/api/v1/health").status_code == 401
    assert as_("kiosk-1").get("/api/v1/health").status_code == 403
    detail = as_("operator").get("/api/v1/health")
    assert detail.status_code == 200 and {"models", "queues", "storage"} <= set(detail.json())


def test_unknown_revoked_and_rotated_keys(as_, principals, local_host, embedded_services, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    store = embedded_services.credentials
    assert as_("kiosk-1").get("/api/v1/me").json() == {
        "id": "kiosk-1", "role": "device", "name": "kiosk-1", "key_id": principals["kiosk-1"].split("_")[1]}
    forged = principals["kiosk-1"][:-4] + "AAAA"
    # Each 401 names its cause and the scheme; a revoked key is named so only to who holds its secret.
    for token, cause in ((forged, "unknown_credential"), ("bioauth_0000000000000000_" + "x" * 43, "unknown_credential"),
                         ("not-a-key", "malformed_credential"), (FUNCTION_KEY, "malformed_credential")):
        r = Client(local_host.url, token).get("/api/v1/me")
        assert (r.status_code, r.json()["error"]["code"]) == (401, cause), token
        assert r.headers["WWW-Authenticate"] == f'Bearer realm="bioauth", error="invalid_token", error_description="{cause}"'
    missing = requests.get(local_host.url + "/api/v1/me", timeout=10)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_credential")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="bioauth"'
    basic = requests.get(local_host.url + "/api/v1/me", headers={"Authorization": "Basic b2xpdmlhOnB3"}, timeout=10)
    assert basic.json()["error"]["code"] == "malformed_credential"
    key_id = principals["kiosk-1"].split("_")[1]
    new = store.rotate(key_id, created_by="test")
    old = Client(local_host.url, principals["kiosk-1"]).get("/api/v1/me")
    assert (old.status_code, old.json()["error"]["code"]) == (401, "revoked_credential")  # rotation revoked it
    assert Client(local_host.url, new.token).get("/api/v1/me").json()["id"] == "kiosk-1"
    store.revoke(new.info.key_id)
    assert Client(local_host.url, new.token).get("/api/v1/me").json()["error"]["code"] == "revoked_credential"
    secrets_seen = [t.split("_", 2)[2] for t in (principals["kiosk-1"], new.token)] + [forged.split("_", 2)[2]]
    assert caplog.records and not [r for r in caplog.records for s in secrets_seen if s in r.getMessage()]  # never logged


def test_the_local_bootstrap_key_can_be_switched_off(settings_env):
    from functions.runtime.services import get_services

    settings_env.setenv("BIOAUTH_LOCAL_ADMIN_KEY", "false")
    host = start_host(get_services(), lease_seconds=10)
    try:
        r = Client(host.url).get("/api/v1/me")  # the function key alone
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unknown_credential")
    finally:
        host.stop()


def test_the_bootstrap_key_is_never_an_admin_with_cosmos_or_key_vault():
    from functions.http.access import local_admin_enabled
    from functions.settings import Settings

    assert local_admin_enabled(Settings.from_env({}))
    assert not local_admin_enabled(Settings.from_env({"BIOAUTH_RECORDS": "cosmos"}))
    assert not local_admin_enabled(Settings.from_env({"BIOAUTH_KEY_VAULT_URL": "https://kv.vault.azure.net/"}))


def test_each_key_is_rate_limited_with_429_and_retry_after(settings_env):
    from functions.runtime.services import get_services

    settings_env.setenv("BIOAUTH_RATE_LIMIT_PER_MINUTE", "6")
    settings_env.setenv("BIOAUTH_RATE_LIMIT_BURST", "3")
    services = get_services()
    one = services.credentials.issue("device", "kiosk-1", created_by="test").token
    two = services.credentials.issue("device", "kiosk-2", created_by="test").token
    host = start_host(services, lease_seconds=10)
    try:
        first = Client(host.url, one)
        answers = [first.get("/api/v1/verifications/none") for _ in range(4)]
        assert [a.status_code for a in answers] == [404, 404, 404, 429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 10  # one token comes back every 10 s
        assert Client(host.url, two).get("/api/v1/verifications/none").status_code == 404  # another key, another bucket
    finally:
        host.stop()


def test_token_bucket_refills_at_its_rate():
    from functions.http.access import TokenBucket

    bucket = TokenBucket(per_minute=60, burst=2)
    assert [bucket.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert bucket.take("k", now=0.5) == pytest.approx(0.5)
    assert bucket.take("k", now=1.0) == 0.0
    assert bucket.take("other", now=1.0) == 0.0


def test_operators_manage_keys_over_the_api_and_nobody_else_may(as_, local_host, embedded_services):
    operator = as_("operator")
    for who in ("kiosk-1", "reviewer"):
        r = as_(who).post("/api/v1/keys", json={"role": "operator", "principal_id": "mallory"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_role")  # no self-promotion
    made = operator.post("/api/v1/keys", json={"role": "device", "principal_id": "kiosk-9", "name": "Lobby"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    token = made.json()["token"]
    assert Client(local_host.url, token).get("/api/v1/me").json()["id"] == "kiosk-9"
    listed = operator.get("/api/v1/keys").json()["keys"]
    assert {"kiosk-9", "olivia"} <= {k["principal_id"] for k in listed}
    assert all("token" not in k and "hash" not in k and "salt" not in k for k in listed)
    assert operator.post("/api/v1/keys", json={"role": "root", "principal_id": "x"}).status_code == 400
    assert operator.post("/api/v1/keys", json={"role": "device", "principal_id": "kiosk-9"}).status_code == 409

    rotated = operator.post(f"/api/v1/keys/{made.json()['key_id']}/rotation", json={"keep_old": True})
    assert rotated.status_code == 201
    assert Client(local_host.url, token).get("/api/v1/me").status_code == 200  # kept for the changeover
    assert operator.delete(f"/api/v1/keys/{made.json()['key_id']}").json()["revoked_at"]
    assert Client(local_host.url, token).get("/api/v1/me").status_code == 401
    assert Client(local_host.url, rotated.json()["token"]).get("/api/v1/me").status_code == 200
    assert operator.delete("/api/v1/keys/0000000000000000").status_code == 404

    trail = embedded_services.audit.query(device_id="kiosk-9")
    assert [(e.action, e.actor_id) for e in trail] == [("key.created", "olivia"), ("key.rotated", "olivia"), ("key.revoked", "olivia")]
    assert token not in str(trail)
