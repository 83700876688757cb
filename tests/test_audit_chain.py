"""The audit trail refuses NULL and forged pseudonyms, and a keyed hash chain over its events lets
`python -m functions.admin verify-audit` find an event edited or deleted behind the triggers' back."""

import sqlite3

import pytest

from functions.admin import run
from functions.storage.audit import AuditEvent, SqliteAuditLog, chain_keys, pseudonym

SECRET = b"s" * 32


def _trail(tmp_path) -> SqliteAuditLog:
    log = SqliteAuditLog(tmp_path / "records.sqlite", SECRET)
    for n, subject in enumerate(("alice", "bob", "alice", None)):
        log.append(AuditEvent("verification.created", f"kiosk-{n}", "device", actor_key_id=f"k{n}", subject_id=subject,
                              device_id=f"kiosk-{n}", verification_id=f"v{n}"))
    return log


class Stores:
    def __init__(self, audit):
        self.audit, self.credentials, self.secrets = audit, None, None


def test_null_and_forged_pseudonyms_are_refused(tmp_path):
    _trail(tmp_path)
    conn = sqlite3.connect(tmp_path / "records.sqlite")
    for sql in ("UPDATE audit SET subject_id = NULL WHERE subject_id = 'alice'",
                "UPDATE audit SET subject_id = 'erased:fake' WHERE subject_id = 'alice'",
                "UPDATE audit SET subject_id = 'erased:' || hex(randomblob(16)) WHERE subject_id = 'alice'",  # upper case
                "UPDATE audit SET subject_id = 'erased:" + "ab" * 16 + "' WHERE subject_id IS NULL",
                "UPDATE audit SET chain = 'x'", "UPDATE audit SET actor_key_id = 'k9'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)


def test_erasure_keeps_the_chain_whole_and_verify_audit_says_so(tmp_path, capsys):
    log = _trail(tmp_path)
    assert log.pseudonymise_subject("alice", chain_keys(SECRET)[0]) == 2
    report = log.verify_chain()
    assert report.ok and report.events == 4
    assert run(["verify-audit"], Stores(log)) == 0
    assert "intact: 4 chained events" in capsys.readouterr().out


def test_an_edited_event_a_forged_pseudonym_or_a_deleted_event_is_found(tmp_path, capsys):
    for tamper, seq in (("UPDATE audit SET actor_id = 'someone-else' WHERE seq = 2", 2),
                        ("UPDATE audit SET subject_id = '" + pseudonym("carol", chain_keys(SECRET)[0]) + "' WHERE seq = 1", 1),
                        ("DELETE FROM audit WHERE seq = 3", 4)):
        folder = tmp_path / str(seq)
        folder.mkdir()
        log = _trail(folder)
        conn = sqlite3.connect(folder / "records.sqlite")
        conn.executescript("DROP TRIGGER audit_refuses_update; DROP TRIGGER audit_refuses_delete;")  # the file's owner
        conn.execute(tamper)
        conn.commit()
        conn.close()
        report = log.verify_chain()
        assert not report.ok and report.broken_at == seq, tamper
        assert run(["verify-audit"], Stores(log)) == 1
        assert f"BROKEN at event seq {seq}" in capsys.readouterr().err


def test_a_chain_made_with_another_secret_does_not_verify(tmp_path):
    _trail(tmp_path)
    assert not SqliteAuditLog(tmp_path / "records.sqlite", b"t" * 32).verify_chain().ok
