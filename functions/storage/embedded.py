"""The embedded default: files for blobs, SQLite for records and for a durable queue.

Several processes may share the data folder (a local host and a test, or a
worker restarted after a crash), so every write is a short SQLite transaction
in WAL mode and blob files are written to a temporary name then renamed.

Everything here is the owner's only: folders 0700, files 0600 (SQLite's
journal files take the database file's mode). SQLite overwrites what it
deletes (secure_delete), and `purge_deleted` empties the write-ahead log, so
an erased record cannot be read back from the files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from ..errors import BlobMissing, Conflict
from . import CONTAINERS, COSMOS_CONTAINERS, PreconditionFailed, QueuedMessage, new_etag


def private_dir(path: Path) -> Path:
    """Create a folder and its missing parents readable by the owner only (mkdir's `parents` ignores the mode)."""
    path = Path(path)
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    return path


def _private_file(path: Path) -> None:
    """Create an empty file 0600 if absent, and make an existing one 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        os.chmod(path, 0o600)


def _connect(path: Path, busy_timeout: float = 30.0) -> sqlite3.Connection:
    os.chmod(private_dir(path.parent), 0o700)  # the data folder, made before this rule or not
    _private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
    conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
    return conn


class _Sqlite:
    """One connection per thread: sqlite3 connections must not be shared across threads mid-transaction."""

    def __init__(self, path: Path, schema: str, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(schema)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self.busy_timeout)
            self._local.conn = conn
        return conn

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        return self._conn().execute(sql, args)

    def transaction(self):
        return _Transaction(self._conn())

    def purge_log(self) -> None:
        """Move the write-ahead log into the database and truncate it: old copies of deleted rows go with it."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class FileBlobStore:
    backend = "files"

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, ref: str) -> Path:
        container, _, name = ref.partition("/")
        if container not in CONTAINERS or not name or ".." in Path(name).parts or name.startswith("/"):
            raise KeyError(ref)
        return self.root / container / name

    def ensure_containers(self) -> None:
        for c in CONTAINERS:
            private_dir(self.root / c)
        for folder in (self.root, *(self.root / c for c in CONTAINERS)):
            os.chmod(folder, 0o700)  # a folder made before this rule was 0755

    def put(self, container: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        ref = f"{container}/{name}"
        path = self._path(ref)
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return ref

    def get(self, ref: str) -> bytes:
        path = self._path(ref)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(ref) from None

    def delete_prefix(self, container: str, prefix: str) -> int:
        base = self.root / container
        count = 0
        for path in sorted(base.rglob("*"), reverse=True):
            rel = path.relative_to(base).as_posix()
            if path.is_file() and rel.startswith(prefix):
                path.unlink()
                count += 1
            elif path.is_dir() and rel.startswith(prefix.rstrip("/")) and not any(path.iterdir()):
                path.rmdir()
        return count


RECORDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (container, id)
);
-- Requests whose first message may be unsent (runtime/intake.py): the recovery sweep reads only these.
CREATE INDEX IF NOT EXISTS documents_by_outbox ON documents (container, json_extract(body, '$.outbox'));
"""


def insert_document(conn: sqlite3.Connection, container: str, doc: dict) -> dict:
    """Insert a document (in the caller's transaction, if any); Conflict when the id exists."""
    body = {k: v for k, v in doc.items() if k != "_etag"}
    etag = new_etag()
    try:
        conn.execute("INSERT INTO documents (container, id, body, etag) VALUES (?, ?, ?, ?)",
                     (container, body["id"], json.dumps(body), etag))
    except sqlite3.IntegrityError:
        raise Conflict(f"{container}/{body['id']} already exists") from None
    return {**body, "_etag": etag}


def replace_document(conn: sqlite3.Connection, container: str, doc: dict, etag: str) -> dict:
    """Replace a document only if its etag is still `etag`; PreconditionFailed otherwise."""
    body = {k: v for k, v in doc.items() if k != "_etag"}
    new = new_etag()
    cur = conn.execute("UPDATE documents SET body=?, etag=? WHERE container=? AND id=? AND etag=?",
                       (json.dumps(body), new, container, body["id"], etag))
    if cur.rowcount != 1:
        raise PreconditionFailed(f"{container}/{body['id']} changed since it was read")
    return {**body, "_etag": new}


def upsert_document(conn: sqlite3.Connection, container: str, doc: dict) -> dict:
    body = {k: v for k, v in doc.items() if k != "_etag"}
    etag = new_etag()
    conn.execute("INSERT INTO documents (container, id, body, etag) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT(container, id) DO UPDATE SET body=excluded.body, etag=excluded.etag",
                 (container, body["id"], json.dumps(body), etag))
    return {**body, "_etag": etag}


class SqliteRecordStore:
    backend = "sqlite"

    def __init__(self, path: Path):
        self.db = _Sqlite(path, RECORDS_SCHEMA)

    def ensure_containers(self) -> None:
        pass

    @staticmethod
    def _check(container: str) -> None:
        if container not in COSMOS_CONTAINERS:
            raise KeyError(f"unknown container {container!r}")

    def get(self, container: str, id: str) -> dict | None:
        self._check(container)
        row = self.db.execute("SELECT body, etag FROM documents WHERE container=? AND id=?", (container, id)).fetchone()
        if row is None:
            return None
        doc = json.loads(row[0])
        doc["_etag"] = row[1]
        return doc

    def create(self, container: str, doc: dict) -> dict:
        self._check(container)
        return insert_document(self.db._conn(), container, doc)

    def replace(self, container: str, doc: dict, etag: str) -> dict:
        self._check(container)
        return replace_document(self.db._conn(), container, doc, etag)

    def upsert(self, container: str, doc: dict) -> dict:
        self._check(container)
        return upsert_document(self.db._conn(), container, doc)

    def delete(self, container: str, id: str) -> bool:
        self._check(container)
        return self.db.execute("DELETE FROM documents WHERE container=? AND id=?", (container, id)).rowcount == 1

    def purge_deleted(self) -> None:
        self.db.purge_log()

    def query(self, container: str, field: str, value: object) -> list[dict]:
        self._check(container)
        if not field.isidentifier():
            raise ValueError(f"bad field name {field!r}")
        rows = self.db.execute(
            f"SELECT body, etag FROM documents WHERE container=? AND json_extract(body, '$.{field}') = ?",
            (container, value),
        ).fetchall()
        return [{**json.loads(b), "_etag": e} for b, e in rows]


_QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    inserted_at REAL NOT NULL,
    pop_receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, visible_at);
"""


class SqliteQueueStore:
    """A durable queue with the semantics of Azure Storage queues that the host relies on.

    A received message stays in the table, hidden until its lease ends; only
    delete() removes it. A worker that dies mid-step therefore loses nothing:
    the message comes back with its dequeue count raised.
    """

    backend = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 5.0):
        # A short wait on a locked file: callers retry with backoff (pollers) or answer 503 (the device's POST),
        # rather than hold a thread for the 30 s the records store allows.
        self.db = _Sqlite(path, _QUEUE_SCHEMA, busy_timeout)

    def ensure_queues(self, names: list[str]) -> None:
        pass

    def send(self, queue: str, text: str, visibility_delay: float = 0.0) -> QueuedMessage:
        now = time.time()
        message = QueuedMessage(id=uuid.uuid4().hex, pop_receipt=uuid.uuid4().hex, text=text, dequeue_count=0, inserted_at=now)
        self.db.execute(
            "INSERT INTO messages (id, queue, body, dequeue_count, visible_at, inserted_at, pop_receipt) VALUES (?, ?, ?, 0, ?, ?, ?)",
            (message.id, queue, text, now + visibility_delay, now, message.pop_receipt),
        )
        return message

    def receive(self, queue: str, max_messages: int, lease_seconds: float) -> list[QueuedMessage]:
        now = time.time()
        taken: list[QueuedMessage] = []
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, body, dequeue_count, inserted_at FROM messages WHERE queue=? AND visible_at<=? "
                "ORDER BY inserted_at LIMIT ?",
                (queue, now, max_messages),
            ).fetchall()
            for id_, body, count, inserted in rows:
                receipt = uuid.uuid4().hex
                conn.execute(
                    "UPDATE messages SET dequeue_count=?, visible_at=?, pop_receipt=? WHERE id=?",
                    (count + 1, now + lease_seconds, receipt, id_),
                )
                taken.append(QueuedMessage(id=id_, pop_receipt=receipt, text=body, dequeue_count=count + 1, inserted_at=inserted))
        return taken

    def delete(self, queue: str, message: QueuedMessage) -> None:
        self.db.execute("DELETE FROM messages WHERE id=? AND pop_receipt=?", (message.id, message.pop_receipt))

    def hand_on(self, queue: str, message: QueuedMessage, sends: list[tuple[str, str]]) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            for target, text in sends:
                conn.execute(
                    "INSERT INTO messages (id, queue, body, dequeue_count, visible_at, inserted_at, pop_receipt) VALUES (?, ?, ?, 0, ?, ?, ?)",
                    (uuid.uuid4().hex, target, text, now, now, uuid.uuid4().hex),
                )
            conn.execute("DELETE FROM messages WHERE id=? AND pop_receipt=?", (message.id, message.pop_receipt))

    def release(self, queue: str, message: QueuedMessage, delay_seconds: float) -> None:
        self.db.execute(
            "UPDATE messages SET visible_at=? WHERE id=? AND pop_receipt=?",
            (time.time() + delay_seconds, message.id, message.pop_receipt),
        )

    def renew(self, queue: str, message: QueuedMessage, lease_seconds: float) -> None:
        self.db.execute(
            "UPDATE messages SET visible_at=? WHERE id=? AND pop_receipt=?",
            (time.time() + lease_seconds, message.id, message.pop_receipt),
        )

    def count(self, queue: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages WHERE queue=?", (queue,)).fetchone()[0]

    def forget(self, queues: list[str], needles: list[str]) -> int:
        """Delete the messages of these queues, leased or not, whose text contains one of `needles`; empty the log."""
        removed = 0
        for queue in queues:
            for needle in needles:
                removed += self.db.execute("DELETE FROM messages WHERE queue=? AND instr(body, ?) > 0", (queue, needle)).rowcount
        self.db.purge_log()
        return removed

    def holds(self, queue: str, needle: str) -> bool:
        return self.db.execute("SELECT 1 FROM messages WHERE queue=? AND instr(body, ?) > 0 LIMIT 1", (queue, needle)).fetchone() is not None

    def oldest_age(self, queue: str) -> float | None:
        oldest = self.db.execute("SELECT MIN(inserted_at) FROM messages WHERE queue=?", (queue,)).fetchone()[0]
        return None if oldest is None else max(0.0, time.time() - oldest)
