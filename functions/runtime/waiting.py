"""Holding a device's status read until its verification is decided, so devices need not poll.

A step that decides (or fails) a verification announces it; a reader waiting
on that verification in the same process wakes at once. A decision made in
another process or instance is seen at the next re-read, every
RECHECK_SECONDS, so the wait is never longer than the old poll interval.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

RECHECK_SECONDS = 0.2
STILL_RUNNING = ("queued", "processing")

_waiters: dict[str, list[threading.Event]] = {}
_lock = threading.Lock()


def announce_decided(verification_id: str) -> None:
    """Wake whoever waits on this verification in this process."""
    with _lock:
        events = list(_waiters.get(verification_id, ()))
    for event in events:
        event.set()


def wait_until_decided(verification_id: str, read: Callable[[], dict | None], timeout: float) -> dict | None:
    """The record once it is no longer queued or processing, or as it stands when `timeout` seconds have passed."""
    deadline = time.monotonic() + max(0.0, timeout)
    event = threading.Event()
    with _lock:
        _waiters.setdefault(verification_id, []).append(event)
    try:
        while True:
            event.clear()  # cleared before the read: an announcement after it is not missed
            record = read()
            left = deadline - time.monotonic()
            if record is None or record.get("status") not in STILL_RUNNING or left <= 0:
                return record
            event.wait(min(RECHECK_SECONDS, left))
    finally:
        with _lock:
            waiting = _waiters.get(verification_id, [])
            waiting.remove(event)
            if not waiting:
                _waiters.pop(verification_id, None)
