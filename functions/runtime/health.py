"""What health reports beyond "the process answers": queue pollers alive, each queue's oldest message, blob writes,
records reads.

The pollers belong to whoever runs the queue triggers: the local host registers
a source of their status here; in Azure the Functions host runs them and
reports through its own monitoring, so the list is absent. Queue ages and the
blob write are measured here, on the storage both homes share.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from .intake import outbox_summary

log = logging.getLogger("bioauth.health")

# A message older than this in a step queue means the chain is not keeping up (or not running).
OLDEST_MESSAGE_LIMIT_SECONDS = 300.0
# The blob write probe runs at most this often, so a burst of health calls is not a burst of writes.
BLOB_PROBE_INTERVAL_SECONDS = 10.0
# Health is measured at most this often per process (queue ages are a storage call per queue).
REPORT_CACHE_SECONDS = 2.0
PROBE_BLOB = ("images", "health/probe")


@dataclass(frozen=True)
class PollerStatus:
    queue: str
    alive: bool
    seconds_since_poll: float | None  # since the last loop that reached storage without an error
    consecutive_errors: int
    last_error: str | None  # exception type and storage's own message, never message contents


@dataclass
class HealthReport:
    status: str  # "ok" or "degraded"
    problems: list[str] = field(default_factory=list)
    queues: dict[str, dict] = field(default_factory=dict)
    pollers: list[dict] | None = None
    blob_write: dict = field(default_factory=dict)
    recovery: dict = field(default_factory=dict)  # first messages not yet confirmed sent, stranded, sent again

    def to_dict(self) -> dict:
        return asdict(self)


_poller_source: Callable[[], list[PollerStatus]] | None = None
_report_lock = threading.Lock()
_reports: dict[int, tuple[float, HealthReport]] = {}  # per services object: (monotonic time, report)
_probe_lock = threading.Lock()
_last_probe: dict[int, dict] = {}  # per blob store: {"at": monotonic time, "result": {...}}


def register_pollers(source: Callable[[], list[PollerStatus]] | None) -> None:
    """The queue runner (the local host) says how to read its pollers' status; None when it stops."""
    global _poller_source
    _poller_source = source


def _probe_blob_write(services) -> dict:
    """Write a tiny blob, at most every BLOB_PROBE_INTERVAL_SECONDS; a failed write is the answer for that interval."""
    with _probe_lock:
        now = time.monotonic()
        last = _last_probe.get(id(services.blobs))
        if last and now - last["at"] < BLOB_PROBE_INTERVAL_SECONDS:
            return last["result"]
        t0 = time.perf_counter()
        try:
            services.blobs.put(*PROBE_BLOB, str(time.time()).encode(), "text/plain")
            result = {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}
        except Exception as exc:  # noqa: BLE001 - any storage failure is the finding
            log.warning("health: blob write failed (%s)", type(exc).__name__)
            result = {"ok": False, "error": type(exc).__name__}
        _last_probe[id(services.blobs)] = {"at": now, "result": result}
        return result


def health_report(services, queues: Sequence[str], *, stalled_after_seconds: float = 60.0) -> HealthReport:
    """The report, measured at most every REPORT_CACHE_SECONDS: anonymous callers cannot turn health into load."""
    with _report_lock:
        cached = _reports.get(id(services))
        if cached and time.monotonic() - cached[0] < REPORT_CACHE_SECONDS:
            return cached[1]
    report = _measure(services, queues, stalled_after_seconds)
    with _report_lock:
        _reports[id(services)] = (time.monotonic(), report)
    return report


def _measure(services, queues: Sequence[str], stalled_after_seconds: float) -> HealthReport:
    report = HealthReport(status="ok")
    for queue in queues:
        try:
            age = services.queues.oldest_age(queue)
            report.queues[queue] = {"oldest_message_seconds": None if age is None else round(age, 1)}
            if age is not None and age > OLDEST_MESSAGE_LIMIT_SECONDS:
                report.problems.append(f"queue_backlog:{queue}")
        except Exception as exc:  # noqa: BLE001
            report.queues[queue] = {"error": type(exc).__name__}
            report.problems.append(f"queue_unreadable:{queue}")
    source = _poller_source
    if source is not None:
        statuses = source()
        report.pollers = [asdict(s) for s in statuses]
        for s in statuses:
            if not s.alive:
                report.problems.append(f"poller_dead:{s.queue}")
            elif s.consecutive_errors:
                report.problems.append(f"poller_failing:{s.queue}")
            elif s.seconds_since_poll is not None and s.seconds_since_poll > stalled_after_seconds:
                report.problems.append(f"poller_stalled:{s.queue}")
    try:
        services.records.get("verifications", "health-probe")
        report.recovery = outbox_summary(services)
        if report.recovery["stranded"]:
            report.problems.append("requests_stranded")
    except Exception as exc:  # noqa: BLE001 - any storage failure is the finding
        log.warning("health: records read failed (%s)", type(exc).__name__)
        report.problems.append("records_unreadable")
    report.blob_write = _probe_blob_write(services)
    if not report.blob_write["ok"]:
        report.problems.append("blob_write_failing")
    if report.problems:
        report.status = "degraded"
    return report
