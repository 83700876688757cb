"""A status read with ?wait= is held until the verification is decided: one request instead of a poll loop."""

import threading

import numpy as np
import pytest

from functions.runtime import waiting
from functions.runtime.waiting import announce_decided, wait_until_decided
from tests.conftest import png_b64


def test_a_held_read_answers_with_the_decision_not_the_queued_request(client, embedded_services):
    embedded_services.records.upsert("subjects", {"id": "carol"})
    blank = np.full((240, 320, 3), 200, np.uint8)
    body = {"subject_id": "carol", "device_id": "t", "face_image": png_b64(blank), "signature_image": png_b64(blank)}
    posted = client.post("/api/v1/verifications", json=body)
    assert posted.status_code == 202
    held = client.get(posted.headers["Location"] + "?wait=20")
    assert held.status_code == 200
    assert (held.json()["status"], held.json()["decision"]["reasons"]) == ("rejected", ["no_face"])


@pytest.mark.parametrize("wait", ["soon", "-1", "nan", "inf"])
def test_a_wait_that_is_not_a_number_of_seconds_is_refused(client, embedded_services, wait):
    embedded_services.records.upsert("verifications", {"id": "v1", "device_id": "t", "status": "queued"})
    answer = client.get(f"/api/v1/verifications/v1?wait={wait}")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_field" and answer.json()["error"]["details"] == {"field": "wait"}


def test_an_announced_decision_wakes_the_reader_at_once(monkeypatch):
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", 60.0)  # no re-read would see it in time: only the announcement
    record = {"status": "processing"}
    reads = []

    def read():
        reads.append(dict(record))
        return dict(record)

    def decide():
        record["status"] = "accepted"
        announce_decided("v1")

    threading.Timer(0.2, decide).start()
    assert wait_until_decided("v1", read, timeout=10)["status"] == "accepted"
    assert len(reads) == 2
    assert not waiting._waiters  # nothing left registered


def test_a_decision_made_elsewhere_is_seen_at_a_re_read_and_an_undecided_one_comes_back_as_it_stands():
    states = iter(["queued", "processing", "processing", "review"])
    assert wait_until_decided("v2", lambda: {"status": next(states)}, timeout=10)["status"] == "review"
    assert wait_until_decided("v3", lambda: {"status": "processing"}, timeout=0.3)["status"] == "processing"
    assert wait_until_decided("v4", lambda: None, timeout=10) is None  # erased meanwhile
