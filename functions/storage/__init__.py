"""Storage behind one interface, with two homes: Azure (Blob, Storage queues, Cosmos DB) and the embedded default.

The embedded default keeps everything on one machine without an account:
files under a data folder, SQLite for records, and a durable SQLite queue with
visibility timeout, dequeue count and poison queue. Settings choose the home.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from ..errors import Conflict

# Names shared with infra/ (the Bicep tests import these).
CONTAINERS = ("images", "crops", "models", "reviews")
COSMOS_CONTAINERS = {"verifications": "/id", "subjects": "/id", "reviews": "/id", "credentials": "/id", "audit": "/id"}


class PreconditionFailed(Conflict):
    """The document changed since it was read (optimistic concurrency)."""

    code = "precondition_failed"


@dataclass(frozen=True)
class RecordWrite:
    """One document write of a group committed with audit events (AuditLog.commit).

    `etag` None creates the document (Conflict when its id exists); an etag replaces it only if unchanged since
    read (PreconditionFailed otherwise); `upsert` writes it whatever is there.
    """

    container: str
    doc: dict
    etag: str | None = None
    upsert: bool = False


class BlobStore(Protocol):
    def put(self, container: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes; returns the reference 'container/name'."""

    def get(self, ref: str) -> bytes:
        """Raises KeyError when absent."""

    def delete_prefix(self, container: str, prefix: str) -> int:
        """Delete every blob whose name starts with prefix; returns how many."""

    def ensure_containers(self) -> None: ...


class RecordStore(Protocol):
    backend: str

    def get(self, container: str, id: str) -> dict | None:
        """The document with its '_etag', or None."""

    def create(self, container: str, doc: dict) -> dict:
        """Insert; raises Conflict when the id exists."""

    def replace(self, container: str, doc: dict, etag: str) -> dict:
        """Replace only if unchanged since read; raises PreconditionFailed otherwise."""

    def upsert(self, container: str, doc: dict) -> dict: ...

    def delete(self, container: str, id: str) -> bool: ...

    def query(self, container: str, field: str, value: object) -> list[dict]:
        """Documents whose top-level field equals value."""

    def purge_deleted(self) -> None:
        """Make deleted documents unreadable from the store's own files too (erasure)."""

    def ensure_containers(self) -> None: ...


@dataclass
class QueuedMessage:
    id: str
    pop_receipt: str
    text: str
    dequeue_count: int
    inserted_at: float = 0.0


class QueueStore(Protocol):
    backend: str

    def send(self, queue: str, text: str, visibility_delay: float = 0.0) -> QueuedMessage:
        """Add a message, hidden for visibility_delay seconds; the returned handle (id, pop receipt) can renew or
        delete it, so a sender may hold its own message like a lease."""

    def receive(self, queue: str, max_messages: int, lease_seconds: float) -> list[QueuedMessage]:
        """Take up to max_messages visible messages, hidden for lease_seconds; each receive counts as a dequeue."""

    def delete(self, queue: str, message: QueuedMessage) -> None: ...

    def hand_on(self, queue: str, message: QueuedMessage, sends: list[tuple[str, str]]) -> None:
        """A finished message: its outputs (queue, text) sent, then the message deleted (in one transaction where
        the store has them; otherwise a crash between the two redelivers it, and the step passes it on again)."""

    def release(self, queue: str, message: QueuedMessage, delay_seconds: float) -> None:
        """Make a message visible again after delay_seconds (after a failed try)."""

    def renew(self, queue: str, message: QueuedMessage, lease_seconds: float) -> None:
        """Keep a message hidden for another lease while its step still runs (updates its pop receipt)."""

    def count(self, queue: str) -> int:
        """Messages in the queue, visible or not."""

    def forget(self, queues: list[str], needles: list[str]) -> int:
        """Delete the waiting messages of these queues whose text contains one of `needles` (erasure); returns how many."""

    def holds(self, queue: str, needle: str) -> bool | None:
        """Whether a message of the queue, visible or leased, contains `needle`; None when the store cannot tell."""

    def oldest_age(self, queue: str) -> float | None:
        """Seconds since the oldest message was added, or None for an empty queue."""

    def ensure_queues(self, names: list[str]) -> None: ...


_writers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-put")


@dataclass(frozen=True)
class BlobToPut:
    """One blob of a group written together; `data` may be a function that makes the bytes (an encoder)."""

    container: str
    name: str
    data: bytes | Callable[[], bytes]
    content_type: str = "application/octet-stream"


def put_all(blobs: BlobStore, items: Sequence[BlobToPut]) -> list[str]:
    """Write a group of blobs at once; returns their references in order once every one is stored.

    Each put waits on its own fsync (or round trip to the Blob service) and
    image encoders release the GIL, so the group costs about its slowest
    member instead of the sum. The first error is raised after all have ended.
    """

    def put(item: BlobToPut) -> str:
        data = item.data() if callable(item.data) else item.data
        return blobs.put(item.container, item.name, data, item.content_type)

    if len(items) <= 1:
        return [put(item) for item in items]
    futures = [_writers.submit(put, item) for item in items]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


def delete_verification_blobs(blobs: BlobStore, verification_id: str) -> int:
    """Every blob a verification brought or made: the device's images, the face crops, the review copies."""
    vid = verification_id
    return sum(blobs.delete_prefix(container, prefix)
               for container, prefix in (("images", f"verifications/{vid}/"), ("crops", f"{vid}/"), ("reviews", f"{vid}/")))


def update_record(records: RecordStore, container: str, id: str, mutate: Callable[[dict], dict | None], attempts: int = 20,
                  current: dict | None = None, *, audit=None, events: Callable[[dict], Sequence] | None = None,
                  writes: Callable[[dict], Sequence[RecordWrite]] | None = None) -> dict | None:
    """Read-modify-write with optimistic concurrency. `mutate` returns the new doc, or None to leave it unchanged.

    `current`, a copy just read (with its `_etag`), saves the first read; if it is stale the write is refused and
    the record is read again. With `audit`, the events `events(new)` names and the documents `writes(new)` names
    are committed with the new doc (audit.commit): a write that loses the race writes none of them.
    """
    for i in range(attempts):
        doc = dict(current) if i == 0 and current is not None else records.get(container, id)
        if doc is None:
            return None
        etag = doc.pop("_etag", "")
        new = mutate(dict(doc))
        if new is None:
            doc["_etag"] = etag
            return doc
        try:
            if audit is not None and (events or writes):
                told = list(events(new)) if events else []
                others = list(writes(new)) if writes else []
                return audit.commit(told, [RecordWrite(container, new, etag), *others])[0]
            return records.replace(container, new, etag)
        except PreconditionFailed:
            time.sleep(0.005 * (i + 1))
    raise Conflict(f"{container}/{id} kept changing; gave up after {attempts} attempts")


def new_etag() -> str:
    return uuid.uuid4().hex
