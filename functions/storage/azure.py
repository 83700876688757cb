"""Azure homes: Blob Storage, Storage queues (Azurite locally) and Cosmos DB NoSQL.

Credentials: a connection string where one is set (Azurite, development);
otherwise the account endpoints with DefaultAzureCredential (managed identity
in Azure). No account key is ever read from code or settings in Azure.
"""

from __future__ import annotations

import time

from typing import Any

from ..errors import BlobMissing, Conflict
from . import CONTAINERS, COSMOS_CONTAINERS, PreconditionFailed, QueuedMessage

_SYSTEM_FIELDS = ("_rid", "_self", "_attachments", "_ts")


def _credential():
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class AzureBlobStore:
    backend = "azure-blob"

    def __init__(self, *, connection_string: str | None = None, account_url: str | None = None, credential: Any = None):
        from azure.storage.blob import BlobServiceClient

        if connection_string:
            self.service = BlobServiceClient.from_connection_string(connection_string)
        elif account_url:
            self.service = BlobServiceClient(account_url, credential=credential or _credential())
        else:
            raise ValueError("Blob storage needs AzureWebJobsStorage or AzureWebJobsStorage__blobServiceUri")

    def ensure_containers(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for c in CONTAINERS:
            try:
                self.service.create_container(c)
            except ResourceExistsError:
                pass

    def _blob(self, ref: str):
        container, _, name = ref.partition("/")
        if container not in CONTAINERS or not name:
            raise KeyError(ref)
        return self.service.get_blob_client(container, name)

    def put(self, container: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        from azure.storage.blob import ContentSettings

        ref = f"{container}/{name}"
        self._blob(ref).upload_blob(data, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return ref

    def get(self, ref: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._blob(ref).download_blob().readall()
        except ResourceNotFoundError:
            raise BlobMissing(ref) from None

    def delete_prefix(self, container: str, prefix: str) -> int:
        client = self.service.get_container_client(container)
        names = [b.name for b in client.list_blobs(name_starts_with=prefix)]
        for name in names:
            client.delete_blob(name, delete_snapshots="include")
        return len(names)


class AzureQueueStore:
    """Storage queues with base64 message text, as the Functions host reads and writes it."""

    backend = "azure-queue"

    def __init__(self, *, connection_string: str | None = None, account_url: str | None = None, credential: Any = None):
        from azure.storage.queue import QueueServiceClient

        if connection_string:
            self.service = QueueServiceClient.from_connection_string(connection_string)
        elif account_url:
            self.service = QueueServiceClient(account_url, credential=credential or _credential())
        else:
            raise ValueError("Queues need AzureWebJobsStorage or AzureWebJobsStorage__queueServiceUri")
        self._clients: dict[str, Any] = {}

    def _queue(self, name: str):
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

        client = self._clients.get(name)
        if client is None:
            # The service client does not hand its message policies down: set them on each queue client.
            client = self.service.get_queue_client(
                name, message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=TextBase64DecodePolicy()
            )
            self._clients[name] = client
        return client

    def ensure_queues(self, names: list[str]) -> None:
        from azure.core.exceptions import ResourceExistsError

        for name in names:
            try:
                self._queue(name).create_queue()
            except ResourceExistsError:
                pass

    def send(self, queue: str, text: str, visibility_delay: float = 0.0) -> QueuedMessage:
        delay = max(0, int(round(visibility_delay))) or None
        sent = self._queue(queue).send_message(text, visibility_timeout=delay)
        return QueuedMessage(id=sent.id, pop_receipt=sent.pop_receipt, text=text, dequeue_count=0,
                             inserted_at=sent.inserted_on.timestamp() if sent.inserted_on else time.time())

    def receive(self, queue: str, max_messages: int, lease_seconds: float) -> list[QueuedMessage]:
        msgs = self._queue(queue).receive_messages(
            messages_per_page=max_messages, max_messages=max_messages, visibility_timeout=max(1, int(round(lease_seconds)))
        )
        return [
            QueuedMessage(
                id=m.id,
                pop_receipt=m.pop_receipt,
                text=m.content,
                dequeue_count=m.dequeue_count,
                inserted_at=m.inserted_on.timestamp() if m.inserted_on else 0.0,
            )
            for m in msgs
        ]

    def hand_on(self, queue: str, message: QueuedMessage, sends: list[tuple[str, str]]) -> None:
        for target, text in sends:
            self.send(target, text)
        self.delete(queue, message)

    def delete(self, queue: str, message: QueuedMessage) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._queue(queue).delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            pass  # the lease had ended and someone else took it

    def release(self, queue: str, message: QueuedMessage, delay_seconds: float) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._queue(queue).update_message(message.id, message.pop_receipt, visibility_timeout=int(delay_seconds))
        except ResourceNotFoundError:
            pass

    def renew(self, queue: str, message: QueuedMessage, lease_seconds: float) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            updated = self._queue(queue).update_message(message.id, message.pop_receipt, visibility_timeout=max(1, int(lease_seconds)))
            message.pop_receipt = updated.pop_receipt
        except ResourceNotFoundError:
            pass

    def count(self, queue: str) -> int:
        return self._queue(queue).get_queue_properties().approximate_message_count

    def forget(self, queues: list[str], needles: list[str]) -> int:
        """Take each visible message once, delete those that match, and make the others visible again at once.

        A message leased by a running step is not seen; its step finds the
        record gone and drops it.
        """
        from azure.core.exceptions import ResourceNotFoundError

        removed = 0
        for name in queues:
            client = self._queue(name)
            keep = []
            while True:  # a taken message stays hidden for a minute, so each page brings new ones
                page = list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60))
                if not page:
                    break
                for m in page:
                    if any(needle in (m.content or "") for needle in needles):
                        client.delete_message(m.id, m.pop_receipt)
                        removed += 1
                    else:
                        keep.append(m)
            for m in keep:
                try:
                    client.update_message(m.id, m.pop_receipt, visibility_timeout=0)
                except ResourceNotFoundError:
                    pass
        return removed

    def holds(self, queue: str, needle: str) -> bool | None:
        """True when one of the first 32 visible messages contains needle; None otherwise (Storage queues peek only
        visible messages, at most 32: a leased message or a long queue cannot be ruled out)."""
        peeked = self._queue(queue).peek_messages(max_messages=32)
        return True if any(needle in (m.content or "") for m in peeked) else None

    def oldest_age(self, queue: str) -> float | None:
        """Age of the first visible message (Storage queues peek only visible ones)."""
        first = self._queue(queue).peek_messages(max_messages=1)
        if not first or not first[0].inserted_on:
            return None
        return max(0.0, time.time() - first[0].inserted_on.timestamp())


class CosmosRecordStore:
    """Records in Cosmos DB NoSQL. Every container is partitioned on /id (see COSMOS_CONTAINERS).

    `database` is an azure.cosmos DatabaseProxy; tests pass a test double with the same methods.
    """

    backend = "cosmos"

    def __init__(self, database: Any):
        self.database = database
        self._containers: dict[str, Any] = {}

    @classmethod
    def connect(cls, endpoint: str, database: str, credential: Any = None) -> "CosmosRecordStore":
        from azure.cosmos import CosmosClient

        client = CosmosClient(endpoint, credential=credential or _credential())
        return cls(client.get_database_client(database))

    def ensure_containers(self) -> None:
        from azure.cosmos import PartitionKey

        for name, pk in COSMOS_CONTAINERS.items():
            self.database.create_container_if_not_exists(id=name, partition_key=PartitionKey(path=pk))

    def _container(self, name: str):
        if name not in COSMOS_CONTAINERS:
            raise KeyError(f"unknown container {name!r}")
        client = self._containers.get(name)
        if client is None:
            client = self.database.get_container_client(name)
            self._containers[name] = client
        return client

    @staticmethod
    def _clean(item: dict) -> dict:
        return {k: v for k, v in item.items() if k not in _SYSTEM_FIELDS}

    def get(self, container: str, id: str) -> dict | None:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            return self._clean(self._container(container).read_item(item=id, partition_key=id))
        except CosmosResourceNotFoundError:
            return None

    def create(self, container: str, doc: dict) -> dict:
        from azure.cosmos.exceptions import CosmosResourceExistsError

        body = {k: v for k, v in doc.items() if k != "_etag"}
        try:
            return self._clean(self._container(container).create_item(body=body))
        except CosmosResourceExistsError:
            raise Conflict(f"{container}/{body['id']} already exists") from None

    def replace(self, container: str, doc: dict, etag: str) -> dict:
        from azure.core import MatchConditions
        from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceNotFoundError

        body = {k: v for k, v in doc.items() if k != "_etag"}
        try:
            return self._clean(
                self._container(container).replace_item(
                    item=body["id"], body=body, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            )
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):  # changed or deleted since it was read
            raise PreconditionFailed(f"{container}/{body['id']} changed since it was read") from None

    def upsert(self, container: str, doc: dict) -> dict:
        body = {k: v for k, v in doc.items() if k != "_etag"}
        return self._clean(self._container(container).upsert_item(body=body))

    def purge_deleted(self) -> None:
        """Nothing to do: a deleted item is gone from the account (backups follow the account's backup policy)."""

    def delete(self, container: str, id: str) -> bool:
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        try:
            self._container(container).delete_item(item=id, partition_key=id)
            return True
        except CosmosResourceNotFoundError:
            return False

    def query(self, container: str, field: str, value: object) -> list[dict]:
        if not field.isidentifier():
            raise ValueError(f"bad field name {field!r}")
        items = self._container(container).query_items(
            query=f"SELECT * FROM c WHERE c.{field} = @value",
            parameters=[{"name": "@value", "value": value}],
            enable_cross_partition_query=True,
        )
        return [self._clean(i) for i in items]
