"""The audit trail (append-only, pseudonymised on erasure, never images) and the credential store with its CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest

from functions.storage.audit import AuditEvent, RecordAuditLog, SqliteAuditLog, pseudonym
from functions.storage.api_keys import CredentialStore


def _events(log) -> None:
    log.append(AuditEvent("verification.created", "kiosk-1", "device", actor_key_id="k1", subject_id="alice", device_id="kiosk-1", verification_id="v1"))
    log.append(AuditEvent("verification.created", "kiosk-2", "device", actor_key_id="k2", subject_id="bob", device_id="kiosk-2", verification_id="v2"))
    log.append(AuditEvent("review.verdict", "dana", "reviewer", actor_key_id="k3", subject_id="alice", device_id="kiosk-1", verification_id="v1",
                          details={"verdict": "accept", "models": {"antispoof": "lbp-1"}}))


@pytest.fixture(params=["sqlite", "cosmos-test-double"])
def audit_log(request, tmp_path):
    if request.param == "sqlite":
        return SqliteAuditLog(tmp_path / "records.sqlite")
    from functions.storage.azure import CosmosRecordStore
    from tests.test_cosmos import CosmosDatabaseTestDouble

    return RecordAuditLog(CosmosRecordStore(CosmosDatabaseTestDouble()))


def test_events_are_queried_per_subject_and_per_device_oldest_first(audit_log):
    _events(audit_log)
    assert [(e.action, e.verification_id) for e in audit_log.query(subject_id="alice")] == [
        ("verification.created", "v1"), ("review.verdict", "v1")]
    assert [e.subject_id for e in audit_log.query(device_id="kiosk-2")] == ["bob"]
    assert [e.action for e in audit_log.query(subject_id="alice", actor_id="dana")] == ["review.verdict"]
    assert len(audit_log.query()) == 3 and len(audit_log.query(limit=1)) == 1
    verdict = audit_log.query(actor_id="dana")[0]
    assert verdict.details["models"] == {"antispoof": "lbp-1"} and verdict.at and verdict.id


def test_details_cannot_carry_images_or_templates(audit_log):
    for details in ({"face_image": "iVBOR..."}, {"templates": "AAAA"}, {"token": "x"}):
        with pytest.raises(ValueError):
            audit_log.append(AuditEvent("subject.enrolled", "olivia", "operator", actor_key_id="k4", subject_id="alice", details=details))
    assert audit_log.query() == []


def test_erasure_pseudonymises_the_subject_and_keeps_what_happened(audit_log):
    _events(audit_log)
    key = b"k" * 32
    assert audit_log.pseudonymise_subject("alice", key) == 2
    assert audit_log.query(subject_id="alice") == []
    kept = audit_log.query(subject_id=pseudonym("alice", key))
    assert [e.action for e in kept] == ["verification.created", "review.verdict"]
    assert kept[1].details["verdict"] == "accept" and kept[1].actor_id == "dana"
    assert pseudonym("alice", key) != pseudonym("alice", b"j" * 32)  # keyed: not a plain hash anyone can recompute
    assert audit_log.query(subject_id="bob")[0].verification_id == "v2"  # others untouched
    assert audit_log.pseudonymise_subject(pseudonym("alice", key), key) == 0


def test_sqlite_refuses_to_update_or_delete_audit_rows(tmp_path):
    log = SqliteAuditLog(tmp_path / "records.sqlite")
    _events(log)
    conn = sqlite3.connect(tmp_path / "records.sqlite")
    for sql in ("DELETE FROM audit", "DELETE FROM audit WHERE verification_id='v2'",
                "UPDATE audit SET details='{}'", "UPDATE audit SET actor_id='someone-else'",
                "UPDATE audit SET subject_id='carol' WHERE subject_id='alice'",
                "UPDATE audit SET subject_id='erased:x', details='{}' WHERE subject_id='alice'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    good = "erased:" + "ab" * 16
    conn.execute(f"UPDATE audit SET subject_id='{good}' WHERE subject_id='alice'")  # erasure's one change
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(f"UPDATE audit SET subject_id='erased:{'cd' * 16}' WHERE subject_id='{good}'")  # and only once
    conn.close()
    assert len(log.query()) == 3


def test_the_store_keeps_a_salted_hash_never_the_secret(tmp_path):
    from functions.storage.embedded import SqliteRecordStore

    store = CredentialStore(SqliteRecordStore(tmp_path / "records.sqlite"))
    a = store.issue("device", "kiosk-1", created_by="test")
    b = store.issue("device", "kiosk-2", created_by="test")
    secret = a.token.split("_", 2)[2]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("records.sqlite*"))
    assert secret.encode() not in raw and a.token.encode() not in raw
    docs = [store.records.get("credentials", i.info.key_id) for i in (a, b)]
    assert docs[0]["salt"] != docs[1]["salt"] and len(docs[0]["hash"]) == 64
    assert store.authenticate(a.token).id == "kiosk-1" and store.authenticate(b.token).id == "kiosk-2"
    assert "kiosk-1" in repr(a) and secret not in repr(a)


def test_one_active_key_per_principal_and_role(tmp_path):
    from functions.errors import Conflict
    from functions.storage.embedded import SqliteRecordStore

    store = CredentialStore(SqliteRecordStore(tmp_path / "records.sqlite"))
    first = store.issue("reviewer", "dana", name="Dana", created_by="test")
    with pytest.raises(Conflict):
        store.issue("reviewer", "dana", created_by="test")
    second = store.rotate(first.info.key_id, created_by="test", keep_old=True)  # a changeover: both work
    assert store.authenticate(first.token) and store.authenticate(second.token).name == "Dana"
    store.revoke(first.info.key_id)
    assert store.authenticate(first.token) is None and store.authenticate(second.token)


def test_admin_cli_creates_lists_rotates_revokes_and_reads_the_trail(embedded_services, capsys):
    from functions.admin import run

    services = embedded_services
    assert run(["--json", "create-device", "kiosk-9", "--name", "Front desk"], services) == 0
    made = json.loads(capsys.readouterr().out)
    assert services.credentials.authenticate(made["token"]).id == "kiosk-9"
    assert run(["create-device", "kiosk-9"], services) == 1  # exists: rotate instead
    assert "principal_exists" in capsys.readouterr().err

    assert run(["list"], services) == 0
    listing = capsys.readouterr().out
    assert "kiosk-9" in listing and made["token"].split("_", 2)[2] not in listing and "hash" not in listing

    assert run(["--json", "rotate", made["key_id"]], services) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert services.credentials.authenticate(made["token"]) is None
    assert services.credentials.authenticate(rotated["token"]).id == "kiosk-9"
    assert run(["revoke", rotated["key_id"]], services) == 0
    assert services.credentials.authenticate(rotated["token"]) is None
    capsys.readouterr()

    assert run(["--json", "audit", "--device-id", "kiosk-9"], services) == 0
    trail = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in trail] == ["key.created", "key.rotated", "key.revoked"]
    assert all(e["actor_id"].startswith("cli:") and e["actor_role"] == "operator" for e in trail)
    assert all("token" not in json.dumps(e) for e in trail)


def test_audit_route_is_for_operators(local_host, principals, embedded_services):
    from tests.conftest import Client

    embedded_services.audit.append(AuditEvent("verification.created", "kiosk-1", "device", actor_key_id="k1", subject_id="alice", device_id="kiosk-1"))
    operator = Client(local_host.url, principals["operator"])
    r = operator.get("/api/v1/audit?subject_id=alice")
    assert r.status_code == 200 and [e["action"] for e in r.json()["events"]] == ["verification.created"]
    assert operator.get("/api/v1/audit?device_id=kiosk-1").json()["count"] == 1
    assert operator.get("/api/v1/audit?device_id=kiosk-2").json()["count"] == 0
    for who in ("kiosk-1", "reviewer"):
        r = Client(local_host.url, principals[who]).get("/api/v1/audit?subject_id=alice")
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_role")


def test_the_credential_store_works_the_same_on_cosmos_db():
    """The Cosmos DB home of the store, against the azure-cosmos test double (Cosmos DB cannot run here)."""
    from functions.storage.azure import CosmosRecordStore
    from tests.test_cosmos import CosmosDatabaseTestDouble

    db = CosmosDatabaseTestDouble()
    store = CredentialStore(CosmosRecordStore(db))
    issued = store.issue("reviewer", "dana", name="Dana", created_by="test")
    assert store.authenticate(issued.token).name == "Dana"
    assert [c.principal_id for c in store.all()] == ["dana"]
    stored = db.containers["credentials"].items[issued.info.key_id]
    assert issued.token.split("_", 2)[2] not in str(stored) and stored["hash"]
    store.revoke(issued.info.key_id)
    assert store.authenticate(issued.token) is None


def test_a_verification_that_fails_is_in_the_audit_trail_with_its_code(embedded_services):
    from functions.runtime.step_runner import mark_failed
    from functions.steps.table import STEPS

    embedded_services.records.create("verifications", {"id": "v-fail", "subject_id": "dora", "device_id": "kiosk-1",
                                                       "status": "processing", "steps": {}})
    mark_failed(STEPS, embedded_services, "v-fail", "antispoof", "model_not_installed", "the model is missing")
    events = embedded_services.audit.query(subject_id="dora")
    assert [(e.action, e.verification_id, e.device_id, e.details["reasons"]) for e in events] == [
        ("verification.failed", "v-fail", "kiosk-1", ["model_not_installed"])]
