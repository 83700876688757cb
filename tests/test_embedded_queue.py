"""The embedded queue: what the host relies on from Azure Storage queues."""

import time

from functions.storage.embedded import SqliteQueueStore


def test_received_message_is_hidden_then_returns_with_higher_dequeue_count(tmp_path):
    q = SqliteQueueStore(tmp_path / "q.sqlite")
    q.send("face-crop", "m1")
    first = q.receive("face-crop", 10, lease_seconds=0.3)
    assert [m.text for m in first] == ["m1"] and first[0].dequeue_count == 1
    assert q.receive("face-crop", 10, lease_seconds=0.3) == []  # hidden while leased
    time.sleep(0.4)
    again = q.receive("face-crop", 10, lease_seconds=0.3)
    assert again[0].dequeue_count == 2


def test_only_delete_removes_and_a_stale_receipt_does_not(tmp_path):
    q = SqliteQueueStore(tmp_path / "q.sqlite")
    q.send("decide", "m")
    stale = q.receive("decide", 1, lease_seconds=0.01)[0]
    time.sleep(0.05)
    fresh = q.receive("decide", 1, lease_seconds=5)[0]
    q.delete("decide", stale)  # the first worker's lease ended: its delete must not remove the new lease
    assert q.count("decide") == 1
    q.delete("decide", fresh)
    assert q.count("decide") == 0


def test_messages_survive_a_restart(tmp_path):
    SqliteQueueStore(tmp_path / "q.sqlite").send("antispoof", "durable")
    reopened = SqliteQueueStore(tmp_path / "q.sqlite")
    assert [m.text for m in reopened.receive("antispoof", 5, 1)] == ["durable"]


def test_release_delays_redelivery_and_queues_are_separate(tmp_path):
    q = SqliteQueueStore(tmp_path / "q.sqlite")
    q.send("a", "1")
    q.send("b", "2")
    m = q.receive("a", 5, lease_seconds=30)[0]
    q.release("a", m, delay_seconds=0.2)
    assert q.receive("a", 5, 30) == []
    time.sleep(0.25)
    assert [x.text for x in q.receive("a", 5, 30)] == ["1"]
    assert [x.text for x in q.receive("b", 5, 30)] == ["2"]


def test_fifo_order_and_batch_size(tmp_path):
    q = SqliteQueueStore(tmp_path / "q.sqlite")
    for i in range(5):
        q.send("x", str(i))
    assert [m.text for m in q.receive("x", 3, 30)] == ["0", "1", "2"]


def test_hand_on_sends_the_outputs_and_deletes_the_message_together_or_not_at_all(tmp_path):
    import sqlite3

    import pytest

    q = SqliteQueueStore(tmp_path / "q.sqlite")
    q.send("face-crop", "m")
    done = q.receive("face-crop", 1, lease_seconds=5)[0]
    q.hand_on("face-crop", done, [("antispoof", "next")])
    assert q.count("face-crop") == 0 and [m.text for m in q.receive("antispoof", 5, 5)] == ["next"]

    q.send("signature", "s")
    failing = q.receive("signature", 1, lease_seconds=5)[0]
    with pytest.raises(sqlite3.IntegrityError):
        q.hand_on("signature", failing, [("decide", "ok"), ("decide", None)])  # the second send fails
    assert q.count("decide") == 0 and q.count("signature") == 1  # nothing sent, the message kept for its retry
