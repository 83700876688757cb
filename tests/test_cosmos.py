"""The Cosmos DB records adapter.

Cosmos DB cannot run here (its emulators need Docker or Windows), so the
adapter's query and write shapes are checked against `CosmosTestDouble`, a
test double of the azure-cosmos container API that records every call. The
contract suite at the bottom runs the same operations against a real Cosmos
endpoint or the Linux emulator when COSMOS_ENDPOINT is set.
"""

import os
import uuid

import pytest
from azure.core import MatchConditions
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosResourceExistsError, CosmosResourceNotFoundError

from functions.errors import Conflict
from functions.storage import COSMOS_CONTAINERS, PreconditionFailed, update_record
from functions.storage.azure import CosmosRecordStore


class CosmosContainerTestDouble:
    """Test double of azure.cosmos ContainerProxy: items in a dict, every call recorded."""

    def __init__(self, name: str):
        self.name = name
        self.items: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []
        self._n = 0

    def _stamp(self, body: dict) -> dict:
        self._n += 1
        item = {**body, "_etag": f'"{self._n}"', "_rid": "rid", "_self": "self", "_ts": 1, "_attachments": "a/"}
        self.items[body["id"]] = item
        return dict(item)

    def read_item(self, item, partition_key):
        self.calls.append(("read_item", {"item": item, "partition_key": partition_key}))
        if item not in self.items:
            raise CosmosResourceNotFoundError(message="not found")
        return dict(self.items[item])

    def create_item(self, body):
        self.calls.append(("create_item", {"body": body}))
        if body["id"] in self.items:
            raise CosmosResourceExistsError(message="exists")
        return self._stamp(body)

    def replace_item(self, item, body, etag=None, match_condition=None):
        self.calls.append(("replace_item", {"item": item, "etag": etag, "match_condition": match_condition}))
        if item not in self.items:
            raise CosmosResourceNotFoundError(message="not found")
        if match_condition == MatchConditions.IfNotModified and self.items[item]["_etag"] != etag:
            raise CosmosAccessConditionFailedError(message="precondition failed")
        return self._stamp(body)

    def upsert_item(self, body):
        self.calls.append(("upsert_item", {"body": body}))
        return self._stamp(body)

    def delete_item(self, item, partition_key):
        self.calls.append(("delete_item", {"item": item, "partition_key": partition_key}))
        if self.items.pop(item, None) is None:
            raise CosmosResourceNotFoundError(message="not found")

    def query_items(self, query, parameters, enable_cross_partition_query):
        self.calls.append(("query_items", {"query": query, "parameters": parameters, "cross": enable_cross_partition_query}))
        field = query.split("c.")[1].split(" ")[0]
        value = parameters[0]["value"]
        return [dict(i) for i in self.items.values() if i.get(field) == value]


class CosmosDatabaseTestDouble:
    def __init__(self):
        self.containers = {name: CosmosContainerTestDouble(name) for name in COSMOS_CONTAINERS}

    def get_container_client(self, name):
        return self.containers[name]


@pytest.fixture
def cosmos():
    db = CosmosDatabaseTestDouble()
    return CosmosRecordStore(db), db


def test_reads_and_deletes_address_the_partition_by_id(cosmos):
    store, db = cosmos
    store.create("verifications", {"id": "v1", "status": "queued"})
    assert store.get("verifications", "v1")["status"] == "queued"
    assert store.get("verifications", "missing") is None
    assert store.delete("verifications", "v1") is True
    assert store.delete("verifications", "v1") is False
    reads = [c for c in db.containers["verifications"].calls if c[0] in ("read_item", "delete_item")]
    assert all(args["partition_key"] == args["item"] for _, args in reads)  # every container is partitioned on /id


def test_system_fields_are_dropped_but_the_etag_is_kept(cosmos):
    store, _ = cosmos
    doc = store.create("subjects", {"id": "alice"})
    assert set(doc) == {"id", "_etag"}


def test_create_twice_is_a_conflict(cosmos):
    store, _ = cosmos
    store.create("subjects", {"id": "alice"})
    with pytest.raises(Conflict):
        store.create("subjects", {"id": "alice"})


def test_replace_is_conditional_on_the_etag(cosmos):
    store, db = cosmos
    first = store.create("verifications", {"id": "v1", "n": 0})
    store.replace("verifications", {"id": "v1", "n": 1}, first["_etag"])
    with pytest.raises(PreconditionFailed):
        store.replace("verifications", {"id": "v1", "n": 2}, first["_etag"])  # stale etag
    name, args = db.containers["verifications"].calls[-1]
    assert name == "replace_item" and args["match_condition"] == MatchConditions.IfNotModified


def test_update_record_retries_on_a_concurrent_write(cosmos):
    store, db = cosmos
    store.create("verifications", {"id": "v1", "n": 0})
    raced = {"done": False}

    def mutate(doc):
        if not raced["done"]:  # another worker writes between our read and our replace
            raced["done"] = True
            store.upsert("verifications", {"id": "v1", "n": 10})
        doc["n"] += 1
        return doc

    assert update_record(store, "verifications", "v1", mutate)["n"] == 11


@pytest.fixture(params=["sqlite", "cosmos"])
def record_store(request, tmp_path):
    if request.param == "cosmos":
        return request.getfixturevalue("cosmos")[0]
    from functions.storage.embedded import SqliteRecordStore

    return SqliteRecordStore(tmp_path / "records.sqlite")


def test_update_record_from_a_copy_just_read_saves_the_read_and_rereads_when_it_is_stale(record_store):
    record_store.create("verifications", {"id": "v1", "n": 0})
    copy = record_store.get("verifications", "v1")
    assert update_record(record_store, "verifications", "v1", lambda d: {**d, "n": d["n"] + 1}, current=copy)["n"] == 1
    # The copy is stale now: the write is refused and the record read again, so nothing is lost.
    assert update_record(record_store, "verifications", "v1", lambda d: {**d, "n": d["n"] + 1}, current=copy)["n"] == 2
    assert record_store.get("verifications", "v1")["n"] == 2


def test_update_record_from_a_copy_of_a_record_deleted_since_gives_none(record_store):
    record_store.create("verifications", {"id": "v1", "n": 0})
    copy = record_store.get("verifications", "v1")
    record_store.delete("verifications", "v1")
    assert update_record(record_store, "verifications", "v1", lambda d: {**d, "n": 1}, current=copy) is None
    assert record_store.get("verifications", "v1") is None


def test_query_is_parameterised(cosmos):
    store, db = cosmos
    store.upsert("reviews", {"id": "r1", "subject_id": "alice"})
    store.upsert("reviews", {"id": "r2", "subject_id": "bob"})
    assert [d["id"] for d in store.query("reviews", "subject_id", "alice")] == ["r1"]
    name, args = db.containers["reviews"].calls[-1]
    assert args["query"] == "SELECT * FROM c WHERE c.subject_id = @value"
    assert args["parameters"] == [{"name": "@value", "value": "alice"}]
    with pytest.raises(ValueError):
        store.query("reviews", "x = 1 OR 1", "y")  # field names are never interpolated unchecked


@pytest.mark.skipif(not os.environ.get("COSMOS_ENDPOINT"),
                    reason="set COSMOS_ENDPOINT (and COSMOS_KEY for the emulator) to run the contract suite against real Cosmos DB")
def test_contract_against_a_real_cosmos_endpoint():
    from azure.cosmos import CosmosClient

    key = os.environ.get("COSMOS_KEY")
    if key:
        client = CosmosClient(os.environ["COSMOS_ENDPOINT"], credential=key, connection_verify=False)
    else:
        from azure.identity import DefaultAzureCredential

        client = CosmosClient(os.environ["COSMOS_ENDPOINT"], credential=DefaultAzureCredential())
    db = client.create_database_if_not_exists(os.environ.get("COSMOS_DATABASE", "bioauth-contract"))
    store = CosmosRecordStore(db)
    store.ensure_containers()
    vid = uuid.uuid4().hex
    first = store.create("verifications", {"id": vid, "status": "queued", "subject_id": "contract"})
    with pytest.raises(Conflict):
        store.create("verifications", {"id": vid})
    second = store.replace("verifications", {**first, "status": "processing"}, first["_etag"])
    with pytest.raises(PreconditionFailed):
        store.replace("verifications", {**first, "status": "x"}, first["_etag"])
    assert store.get("verifications", vid)["status"] == "processing" and second["_etag"]
    assert any(d["id"] == vid for d in store.query("verifications", "subject_id", "contract"))
    assert store.delete("verifications", vid)
