"""Opening the records store the settings name: SQLite on one machine, Cosmos DB in Azure."""

from __future__ import annotations

from . import RecordStore


def open_record_store(settings) -> RecordStore:
    if settings.records == "cosmos":
        from .azure import CosmosRecordStore

        if not settings.cosmos_endpoint:
            raise ValueError("BIOAUTH_RECORDS=cosmos needs BIOAUTH_COSMOS_ENDPOINT")
        return CosmosRecordStore.connect(settings.cosmos_endpoint, settings.cosmos_database)
    from .embedded import SqliteRecordStore

    return SqliteRecordStore(settings.data_dir / "records.sqlite")
