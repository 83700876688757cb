"""The storage, secrets and settings one process works with, opened once."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..keys import Secrets, load_key_vault_secrets, load_local_secrets
from ..settings import Settings, get_settings
from ..storage import BlobStore, QueueStore, RecordStore


@dataclass
class Services:
    settings: Settings
    blobs: BlobStore
    records: RecordStore
    queues: QueueStore
    secrets: Secrets

    def describe(self) -> dict:
        return {
            "blobs": self.blobs.backend,
            "records": self.records.backend,
            "queues": self.queues.backend,
        }


def open_services(settings: Settings) -> Services:
    from ..storage.embedded import FileBlobStore, SqliteQueueStore, SqliteRecordStore

    data = settings.data_dir
    if settings.storage == "azure":
        from ..storage.azure import AzureBlobStore, AzureQueueStore

        conn = settings.storage_connection
        blobs = AzureBlobStore(connection_string=conn, account_url=None if conn else settings.blob_service_uri)
        queues = AzureQueueStore(connection_string=conn, account_url=None if conn else settings.queue_service_uri)
    else:
        blobs = FileBlobStore(data / "blobs")
        queues = SqliteQueueStore(data / "queue.sqlite")
    if settings.records == "cosmos":
        from ..storage.azure import CosmosRecordStore

        if not settings.cosmos_endpoint:
            raise ValueError("BIOAUTH_RECORDS=cosmos needs BIOAUTH_COSMOS_ENDPOINT")
        records = CosmosRecordStore.connect(settings.cosmos_endpoint, settings.cosmos_database)
    else:
        records = SqliteRecordStore(data / "records.sqlite")
    secrets_ = load_key_vault_secrets(settings.key_vault_url) if settings.key_vault_url else load_local_secrets(data)
    blobs.ensure_containers()
    return Services(settings=settings, blobs=blobs, records=records, queues=queues, secrets=secrets_)


_services: Services | None = None
_lock = threading.Lock()


def get_services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = open_services(get_settings())
        return _services


def set_services(services: Services | None) -> None:
    """Replace the process-wide services (the local host and tests)."""
    global _services
    with _lock:
        _services = services
