"""The storage, secrets and settings one process works with, opened once."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..crypto.service_secrets import Secrets, load_key_vault_secrets, load_local_secrets
from ..settings import Settings, get_settings
from ..storage import BlobStore, QueueStore, RecordStore
from ..storage.audit import AuditLog, open_audit_log
from ..storage.api_keys import CredentialStore
from ..storage.encrypted import EncryptedBlobStore
from ..storage.records import open_record_store


@dataclass
class Services:
    settings: Settings
    blobs: BlobStore
    records: RecordStore
    queues: QueueStore
    secrets: Secrets
    credentials: CredentialStore
    audit: AuditLog

    def describe(self) -> dict:
        return {
            "blobs": self.blobs.backend,
            "records": self.records.backend,
            "queues": self.queues.backend,
            "audit": self.audit.backend,
        }


def open_services(settings: Settings) -> Services:
    from ..storage.embedded import FileBlobStore, SqliteQueueStore

    data = settings.data_dir
    if settings.storage == "azure":
        from ..storage.azure import AzureBlobStore, AzureQueueStore

        conn = settings.storage_connection
        blobs = AzureBlobStore(connection_string=conn, account_url=None if conn else settings.blob_service_uri)
        queues = AzureQueueStore(connection_string=conn, account_url=None if conn else settings.queue_service_uri)
    else:
        blobs = FileBlobStore(data / "blobs")
        queues = SqliteQueueStore(data / "queue.sqlite")
    records = open_record_store(settings)
    secrets_ = load_key_vault_secrets(settings.key_vault_url) if settings.key_vault_url else load_local_secrets(data, settings.secrets_file)
    blobs = EncryptedBlobStore(blobs, secrets_.template_key)  # images, crops and review copies: ciphertext at rest
    blobs.ensure_containers()
    return Services(settings=settings, blobs=blobs, records=records, queues=queues, secrets=secrets_,
                    credentials=CredentialStore(records), audit=open_audit_log(settings, records, secrets_.template_secret))


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
