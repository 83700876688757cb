"""The audit trail: who did what, when, with which models. Append-only; never images or templates.

Each event names the principal (id and role), the action, and where relevant
the subject, the device, the verification, and the model and threshold
versions that spoke. Events are only ever appended. The one change allowed
afterwards is erasure's: a subject's id is replaced by a keyed pseudonym, so
the trail still shows that (and what) happened without naming the person.

On one machine the trail is a table in the records database whose triggers
refuse UPDATE and DELETE (except that pseudonymisation); in Azure it is the
`audit` Cosmos DB container, written only with create.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

AUDIT = "audit"
PSEUDONYM_PREFIX = "erased:"
SERVICE_KEY_ID = "service"  # the service's own steps act with its identity, not an API key

# What an event may record. Free-form details are checked against this list, so an image or a
# template cannot be logged by mistake.
DETAIL_KEYS = frozenset({
    "mode", "outcome", "reasons", "models", "thresholds", "verdict", "presentation", "service_outcome", "faces",
    "signatures", "face_model_version", "key_id", "role", "principal_id", "replaces", "images_retained",
    "records", "blobs", "status", "kind", "index",
    "explanation",  # a decision's policy, per-check LLRs, their sum and thresholds: numbers and names only
})


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


_last_ns = 0
_id_lock = threading.Lock()


def _event_id() -> str:
    """Ids that sort in the order events were appended by this process (nanoseconds, hex), then random."""
    global _last_ns
    with _id_lock:
        _last_ns = max(_last_ns + 1, time.time_ns())
        return f"{_last_ns:016x}{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class AuditEvent:
    action: str  # verification.created, verification.decided, review.verdict, subject.enrolled, key.created, ...
    actor_id: str
    actor_role: str
    subject_id: str | None = None
    device_id: str | None = None
    verification_id: str | None = None
    details: dict = field(default_factory=dict)
    at: str = ""
    id: str = ""
    # The credential that acted: an API key's id, `cli:<user>` for the admin command, `service` for the service's
    # own steps (in Azure, its managed identity). Never empty: an event that cannot say which key acted is refused.
    actor_key_id: str = ""

    def stamped(self) -> "AuditEvent":
        unknown = set(self.details) - DETAIL_KEYS
        if unknown:
            raise ValueError(f"audit details may not carry {sorted(unknown)}")
        key_id = self.actor_key_id or (SERVICE_KEY_ID if self.actor_role == "service" else "")
        if not key_id:
            raise ValueError(f"audit event {self.action!r} does not name the key that acted")
        return AuditEvent(**{**asdict(self), "at": self.at or _now(), "id": self.id or _event_id(), "actor_key_id": key_id})


def pseudonym(subject_id: str, key: bytes) -> str:
    """A subject id replaced by a keyed hash: stable (one person's events stay together), not reversible without the key."""
    return PSEUDONYM_PREFIX + hmac.new(key, subject_id.encode(), hashlib.sha256).hexdigest()[:32]


def pseudonym_key(secrets) -> bytes:
    """The pseudonymisation key, derived from the template secret (Key Vault in Azure, the key file locally)."""
    return chain_keys(secrets.template_secret)[0]


def step_models(record: dict) -> dict:
    """The model versions and thresholds that spoke on a verification, from its recorded step results."""
    models, thresholds = {}, {}
    for step, entry in (record.get("steps") or {}).items():
        result = (entry or {}).get("result") or {}
        version = result.get("model_version") or (result.get("model") or {}).get("version")
        if version:
            models[step] = version
        found = result.get("thresholds") or {k: result[k] for k in ("threshold", "strict_threshold") if result.get(k) is not None}
        if found:
            thresholds[step] = found
    return {"models": models, "thresholds": thresholds}


class AuditLog(Protocol):
    backend: str

    def append(self, event: AuditEvent) -> AuditEvent: ...

    def commit(self, events: Sequence[AuditEvent], writes: Sequence = ()) -> list[dict]:
        """The record writes (storage.RecordWrite) and the events that tell of them, all or nothing where the store
        has transactions (SQLite: one transaction in the records file). Elsewhere the writes go first, in order (the
        first is the one that may lose a race), then the events. Returns the written documents."""

    def query(self, *, subject_id: str | None = None, device_id: str | None = None, actor_id: str | None = None,
              limit: int = 200) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (at most `limit`, the newest ones)."""

    def pseudonymise_subject(self, subject_id: str, key: bytes) -> int:
        """Replace the subject's id in every event by its pseudonym; returns how many events changed."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    subject_id TEXT,
    device_id TEXT,
    verification_id TEXT,
    details TEXT NOT NULL,
    actor_key_id TEXT,
    chain TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_device ON audit (device_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor_id, seq);
"""

# Made again on every open, so a trail made under older rules gets these. The one update allowed is erasure's: a
# subject id (never NULL) replaced by a well-formed pseudonym ('erased:' + 32 hex digits), everything else the same.
# A pseudonym of the right shape but not the subject's own is caught by the hash chain (verify_chain).
_TRIGGERS = """
DROP TRIGGER IF EXISTS audit_refuses_delete;
DROP TRIGGER IF EXISTS audit_refuses_update;
CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_refuses_update BEFORE UPDATE ON audit
WHEN NOT (
    OLD.subject_id IS NOT NULL AND OLD.subject_id NOT LIKE 'erased:%'
    AND NEW.subject_id IS NOT NULL AND length(NEW.subject_id) = 39 AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND substr(NEW.subject_id, 8) NOT GLOB '*[^0-9a-f]*'
    AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action
    AND NEW.actor_id = OLD.actor_id AND NEW.actor_role = OLD.actor_role AND NEW.device_id IS OLD.device_id
    AND NEW.verification_id IS OLD.verification_id AND NEW.details = OLD.details
    AND NEW.actor_key_id IS OLD.actor_key_id AND NEW.chain IS OLD.chain
)
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only (erasure may only pseudonymise a subject id)');
END;
"""

_COLUMNS = ("id", "at", "action", "actor_id", "actor_role", "subject_id", "device_id", "verification_id", "details",
            "actor_key_id")
CHAIN_START = "0" * 64


def chain_keys(secret: bytes) -> tuple[bytes, bytes]:
    """(pseudonym key, chain key), both derived from the template secret (Key Vault, or the local key file outside the
    data folder): whoever edits the trail without the secret cannot make a matching chain."""
    return (hmac.new(secret, b"bioauth:audit-pseudonym", hashlib.sha256).digest(),
            hmac.new(secret, b"bioauth:audit-chain", hashlib.sha256).digest())


def chain_link(chain_key: bytes, pseudonym_key: bytes, previous: str, row: dict) -> str:
    """The event's link: HMAC(chain key, previous link + the event). The subject enters as its pseudonym, so erasure's
    pseudonymisation leaves the chain whole and any other change to the subject id breaks it."""
    subject = row.get("subject_id")
    if subject is not None and not subject.startswith(PSEUDONYM_PREFIX):
        subject = pseudonym(subject, pseudonym_key)
    fields = [previous, *(str(row.get(c)) if row.get(c) is not None else "\x00" for c in _COLUMNS if c != "subject_id"),
              subject if subject is not None else "\x00"]
    return hmac.new(chain_key, "\x1f".join(fields).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What verify_chain found: events checked, the newest link (keep it elsewhere to catch a cut-off tail), and the
    first break: an edited event, or events missing before it."""

    events: int
    unchained: int  # events written before the trail was chained
    head: str
    broken_at: int | None = None  # seq of the first event whose link does not hold
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


class SqliteAuditLog:
    """The embedded default: a table beside the records, guarded by triggers and a keyed hash chain."""

    backend = "sqlite"

    def __init__(self, path: Path, secret: bytes = b""):
        from .embedded import RECORDS_SCHEMA, _Sqlite

        self.db = _Sqlite(Path(path), RECORDS_SCHEMA + _SCHEMA)  # the documents beside it: commit() writes both
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(audit)")}
        for column in ("actor_key_id", "chain"):  # a trail made before events named their key, or were chained
            if column not in columns:
                self.db.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
        self.db._conn().executescript(_TRIGGERS)
        self._pseudonym_key, self._chain_key = chain_keys(secret)

    def append(self, event: AuditEvent) -> AuditEvent:
        e = event.stamped()
        with self.db.transaction() as conn:  # one writer at a time: each link names the one before
            self._insert(conn, e)
        return e

    def _insert(self, conn, e: AuditEvent) -> None:
        row = {**asdict(e), "details": json.dumps(e.details, sort_keys=True)}
        last = conn.execute("SELECT chain FROM audit WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
        row["chain"] = chain_link(self._chain_key, self._pseudonym_key, last[0] if last else CHAIN_START, row)
        columns = (*_COLUMNS, "chain")
        conn.execute(f"INSERT INTO audit ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     tuple(row[c] for c in columns))

    def verify_chain(self) -> ChainReport:
        """Walk the trail oldest first and recompute every link: an edited or forged field, a forged pseudonym, or a
        deleted event breaks the link of the event it touched (or of the one after the gap)."""
        rows = self.db.execute(f"SELECT seq, {', '.join(_COLUMNS)}, chain FROM audit ORDER BY seq").fetchall()
        previous, events, unchained, last_seq = CHAIN_START, 0, 0, None
        for seq, *values, chain in rows:
            if chain is None and previous == CHAIN_START:
                unchained += 1
                last_seq = seq
                continue
            row = dict(zip(_COLUMNS, values))
            if chain is None or chain_link(self._chain_key, self._pseudonym_key, previous, row) != chain:
                gap = last_seq is not None and seq != last_seq + 1
                return ChainReport(events, unchained, previous, seq,
                                   "events missing before it" if gap else "edited, or an event before it deleted")
            previous, events, last_seq = chain, events + 1, seq
        return ChainReport(events, unchained, previous)

    def commit(self, events: Sequence[AuditEvent], writes: Sequence = ()) -> list[dict]:
        """One transaction in the records file: the documents beside this table, then the events."""
        from .embedded import insert_document, replace_document, upsert_document

        stamped = [e.stamped() for e in events]
        with self.db.transaction() as conn:
            written = []
            for w in writes:
                if w.upsert:
                    written.append(upsert_document(conn, w.container, w.doc))
                elif w.etag is None:
                    written.append(insert_document(conn, w.container, w.doc))
                else:
                    written.append(replace_document(conn, w.container, w.doc, w.etag))
            for e in stamped:
                self._insert(conn, e)
        return written

    def query(self, *, subject_id: str | None = None, device_id: str | None = None, actor_id: str | None = None,
              limit: int = 200) -> list[AuditEvent]:
        where, args = [], []
        for column, value in (("subject_id", subject_id), ("device_id", device_id), ("actor_id", actor_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, int(limit))).fetchall()
        return [AuditEvent(**{**dict(zip(_COLUMNS, r)), "details": json.loads(r[_COLUMNS.index("details")])})
                for r in reversed(rows)]

    def pseudonymise_subject(self, subject_id: str, key: bytes) -> int:
        if subject_id.startswith(PSEUDONYM_PREFIX):
            return 0
        return self.db.execute("UPDATE audit SET subject_id = ? WHERE subject_id = ?",
                               (pseudonym(subject_id, key), subject_id)).rowcount


class RecordAuditLog:
    """The trail on a RecordStore (Cosmos DB in Azure): events are created, never replaced, except by erasure."""

    def __init__(self, records):
        self.records = records
        self.backend = f"{records.backend}-audit"

    def append(self, event: AuditEvent) -> AuditEvent:
        e = event.stamped()
        self.records.create(AUDIT, {**asdict(e), "kind": "audit"})
        return e

    def commit(self, events: Sequence[AuditEvent], writes: Sequence = ()) -> list[dict]:
        """Cosmos DB has no transaction across containers: the writes in order (the first may lose a race, and then
        nothing is written), then the events."""
        written = []
        for w in writes:
            if w.upsert:
                written.append(self.records.upsert(w.container, w.doc))
            elif w.etag is None:
                written.append(self.records.create(w.container, w.doc))
            else:
                written.append(self.records.replace(w.container, w.doc, w.etag))
        for event in events:
            self.append(event)
        return written

    def query(self, *, subject_id: str | None = None, device_id: str | None = None, actor_id: str | None = None,
              limit: int = 200) -> list[AuditEvent]:
        filters = {k: v for k, v in (("subject_id", subject_id), ("device_id", device_id), ("actor_id", actor_id)) if v is not None}
        field_, value = next(iter(filters.items()), ("kind", "audit"))
        docs = [d for d in self.records.query(AUDIT, field_, value) if all(d.get(k) == v for k, v in filters.items())]
        docs.sort(key=lambda d: d["id"])
        return [AuditEvent(**{c: d.get(c) for c in _COLUMNS}) for d in docs[-int(limit):]]

    def pseudonymise_subject(self, subject_id: str, key: bytes) -> int:
        if subject_id.startswith(PSEUDONYM_PREFIX):
            return 0
        from . import update_record

        replacement, changed = pseudonym(subject_id, key), 0
        for doc in self.records.query(AUDIT, "subject_id", subject_id):
            update_record(self.records, AUDIT, doc["id"], lambda d: {**d, "subject_id": replacement})
            changed += 1
        return changed


def open_audit_log(settings, records, secret: bytes = b"") -> AuditLog:
    """The trail beside the records: a guarded, chained table in the SQLite file (`secret`: the template secret, which
    keys the chain), or the `audit` container of Cosmos DB."""
    if settings.records == "cosmos":
        return RecordAuditLog(records)
    return SqliteAuditLog(settings.data_dir / "records.sqlite", secret)
