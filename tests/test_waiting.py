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
    monkeypatch.setattr(waiting, "FIRST_RECHECK_SECONDS", 60.0)  # no re-read would see it in time: only the announcement
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


class FakeClock:
    """Time that passes only when the waiter waits, so a 20 s hold is checked without taking 20 s."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def event(self):
        clock = self

        class Event:
            def clear(self):
                pass

            def set(self):
                pass

            def wait(self, seconds):
                clock.now += seconds
                return False

        return Event()


@pytest.fixture
def fake_clock(monkeypatch):
    import types

    clock = FakeClock()
    monkeypatch.setattr(waiting, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(waiting, "threading", types.SimpleNamespace(Event=clock.event))
    return clock


def test_a_20_s_held_read_of_a_record_decided_elsewhere_costs_a_few_reads_not_one_every_0_2_s(fake_clock):
    reads = []

    def read():
        reads.append(fake_clock.now)
        return {"status": "processing"}

    assert wait_until_decided("v5", read, timeout=20)["status"] == "processing"
    assert len(reads) <= 10  # it was 101 with a re-read every 0.2 s
    assert reads[0] == 0 and reads[-1] == pytest.approx(20)
    assert not waiting._waiters


@pytest.mark.parametrize("decided_at", [0.1, 0.5, 1.0, 2.5, 7.0, 19.0])
def test_a_decision_made_elsewhere_is_still_seen_soon_after_it_is_made(fake_clock, decided_at):
    reads = []

    def read():
        reads.append(fake_clock.now)
        return {"status": "accepted" if fake_clock.now >= decided_at else "processing"}

    assert wait_until_decided("v6", read, timeout=20)["status"] == "accepted"
    late = reads[-1] - decided_at
    assert late <= max(0.2, min(decided_at, waiting.MAX_RECHECK_SECONDS)) + 1e-9  # never later than the time already waited
    assert late <= 0.5 or decided_at > 1.0  # the common case (decided within a second) is seen within half a second


def test_a_read_slower_than_the_schedule_does_not_make_a_burst_of_reads(fake_clock):
    reads = []

    def read():
        reads.append(fake_clock.now)
        fake_clock.now += 2.0  # a throttled store
        return {"status": "processing"}

    wait_until_decided("v7", read, timeout=20)
    assert all(b - a >= 2.0 for a, b in zip(reads, reads[1:]))
    assert len(reads) <= 8
