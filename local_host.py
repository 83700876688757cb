"""A local host for the Functions app, for machines without Azure Functions Core Tools.

It serves the real `function_app.py`: HTTP triggers on http://localhost:7071/api/...
checking the function key or a principal's credential as the platform and
Front Door do, and queue triggers fed from the embedded SQLite queue
or from Azure Storage queues (Azurite), honouring host.json's queue settings:
batch size, new-batch threshold, polling interval, visibility timeout after a
failure, max dequeue count and `<queue>-poison`. Functions are discovered from
the app itself (`app.get_functions()`), never from a second list. Output
bindings are written only when the invocation succeeds, as the real host does.

Development only: in Azure the Functions host does all of this.

    python local_host.py [--port 7071] [--workers N] [--log-file PATH]

With `--workers N` (or FUNCTIONS_WORKER_PROCESS_COUNT, as in Azure) N worker
processes share the one listening socket and the data folder, so the steps'
Python work is not held to one interpreter lock; a worker that dies is started
again.

Its own lines go to the console; the full log, third-party warnings included, to local-host.log in the data
folder.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import errno
import json
import logging
import mimetypes
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions.queue import QueueMessage

from functions.http.endpoint import SECURITY_HEADERS
from functions.log_context import configure_logging, request_id_from
from functions.runtime.health import PollerStatus, register_pollers

ROOT = Path(__file__).resolve().parent
DEFAULT_PORT = 7071
# The console's policy as a header (the page's meta tag cannot say frame-ancestors): its own scripts and styles,
# images from the API's links, never framed.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
               "img-src 'self' https: http://127.0.0.1:* http://localhost:*; object-src 'none'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
log = logging.getLogger("bioauth.local_host")


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    from functions.settings import load_local_settings as load

    load(path)


@dataclass(frozen=True)
class QueueOptions:
    """host.json extensions.queues, with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5

    @classmethod
    def from_host_json(cls, path: Path = ROOT / "host.json") -> "QueueOptions":
        from functions.settings import host_json_queues, timespan_seconds

        q = host_json_queues(path)
        batch = int(q.get("batchSize", 16))
        return cls(
            batch_size=batch,
            new_batch_threshold=int(q.get("newBatchThreshold", batch // 2)),
            max_polling_interval=timespan_seconds(q.get("maxPollingInterval"), 60.0),
            visibility_timeout=timespan_seconds(q.get("visibilityTimeout"), 0.0),
            max_dequeue_count=int(q.get("maxDequeueCount", 5)),
        )


ERROR_BACKOFF_START = 0.5  # seconds a poller waits after its first storage error; doubles up to the maximum
ERROR_BACKOFF_MAX = 30.0


class PollerState:
    """One poller's health, updated by its own thread and read by the health route."""

    def __init__(self, queue: str):
        self.queue = queue
        self.last_poll: float | None = None
        self.consecutive_errors = 0
        self.last_error: str | None = None

    def polled(self) -> None:
        self.last_poll = time.monotonic()
        self.consecutive_errors = 0

    def failed(self, exc: Exception) -> None:
        self.consecutive_errors += 1
        self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"

    def status(self, thread: threading.Thread | None) -> PollerStatus:
        since = None if self.last_poll is None else round(time.monotonic() - self.last_poll, 1)
        return PollerStatus(self.queue, bool(thread and thread.is_alive()), since, self.consecutive_errors, self.last_error)


class Out:
    """An output binding's value, kept until the invocation succeeds."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def _route_regex(route: str) -> re.Pattern:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", route.strip("/")):
        if part.startswith("{"):
            name = part[1:-1].split(":")[0]
            if name.startswith("*"):
                pattern += f"(?P<{name[1:]}>.+)"
            else:
                pattern += f"(?P<{name.rstrip('?')}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$")


@dataclass
class HttpFunction:
    name: str
    regex: re.Pattern
    methods: set[str]
    auth_level: str
    trigger_arg: str
    outputs: dict[str, str]  # arg name -> queue name
    fn: Any


@dataclass
class QueueFunction:
    name: str
    queue: str
    trigger_arg: str
    outputs: dict[str, str]
    fn: Any


@dataclass
class TimerFunction:
    name: str
    trigger_arg: str
    fn: Any


class TimerCall:
    """What a timer function receives: the local host never runs one late."""

    past_due = False


_indexed: dict[int, list] = {}


def app_functions(app: func.FunctionApp) -> list:
    """app.get_functions(), once per app object: a second call fails on 'duplicate' names."""
    key = id(app)
    if key not in _indexed:
        _indexed[key] = app.get_functions()
    return _indexed[key]


def discover(app: func.FunctionApp) -> tuple[list[HttpFunction], list[QueueFunction]]:
    """Every HTTP and queue function of the app, with its output queue bindings."""
    http, queues = [], []
    for f in app_functions(app):
        trigger = f.get_trigger()
        outputs = {b.name: b.queue_name for b in f.get_bindings() if b is not trigger and b.type == "queue"}
        if trigger.type == "httpTrigger":
            methods = {str(getattr(m, "value", m)).upper() for m in (trigger.methods or ["GET", "POST", "PUT", "DELETE", "PATCH"])}
            level = str(getattr(trigger.auth_level, "value", trigger.auth_level) or "function").lower()
            http.append(HttpFunction(f.get_function_name(), _route_regex(trigger.route or f.get_function_name()), methods,
                                     level, trigger.name, outputs, f.get_user_function()))
        elif trigger.type == "queueTrigger":
            queues.append(QueueFunction(f.get_function_name(), trigger.queue_name, trigger.name, outputs, f.get_user_function()))
        elif trigger.type != "timerTrigger":
            log.warning("function %s: trigger %s is not run by the local host", f.get_function_name(), trigger.type)
    return http, queues


def discover_timers(app: func.FunctionApp) -> list[TimerFunction]:
    """The app's timer functions; the local host runs each at start and every few seconds, whatever its schedule."""
    return [TimerFunction(f.get_function_name(), f.get_trigger().name, f.get_user_function())
            for f in app_functions(app) if f.get_trigger().type == "timerTrigger"]


class WakingQueues:
    """The host's queue store: every send also wakes the local poller of that queue."""

    def __init__(self, inner):
        self.inner = inner
        self.wake = lambda queue: None

    def send(self, queue: str, text: str, *args, **kwargs):
        sent = self.inner.send(queue, text, *args, **kwargs)
        self.wake(queue)
        return sent

    def hand_on(self, queue: str, message, sends: list[tuple[str, str]]) -> None:
        self.inner.hand_on(queue, message, sends)
        for target, _ in sends:
            self.wake(target)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


# Connections served at once by one process (each holds a thread): beyond it a new connection is answered 503 at
# once and closed, so a flood of half-sent requests holds at most this many threads until the read timeout.
MAX_CONNECTIONS = 256
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
         b"X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: 88\r\n\r\n"
         b'{"error": {"code": "service_unavailable", "message": "too many connections; try again"}}')


class LocalHttpServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS of them, with room for a burst of devices connecting at once
    (the default backlog of 5 reset connections under 64 concurrent clients)."""

    request_queue_size = 128
    max_connections = MAX_CONNECTIONS

    def _connection_slots(self) -> threading.BoundedSemaphore:
        if not hasattr(self, "_slots"):
            self._slots = threading.BoundedSemaphore(self.max_connections)
        return self._slots

    def process_request(self, request, client_address) -> None:
        if not self._connection_slots().acquire(blocking=False):
            try:
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class LocalHost:
    def __init__(self, app: func.FunctionApp, services, *, port: int = 7071, host: str = "127.0.0.1",
                 function_key: str | None = None, lease_seconds: float = 60.0, options: QueueOptions | None = None,
                 route_prefix: str = "api", listen_socket: socket.socket | None = None, timer_interval: float = 5.0,
                 max_connections: int = MAX_CONNECTIONS):
        self.services = services
        self.http_functions, self.queue_functions = discover(app)
        self.timer_functions = discover_timers(app)
        self.timer_interval = timer_interval
        self.options = options or QueueOptions.from_host_json()
        self.lease_seconds = lease_seconds
        self.function_key = function_key or local_function_key(services.settings.data_dir)
        self.route_prefix = route_prefix.strip("/")
        self.max_body = services.settings.max_body_bytes
        self._stop = threading.Event()
        self._wake = {q.queue: threading.Event() for q in self.queue_functions}
        # Whatever in this process sends to a queue (an output binding, decode's first message, the sync
        # chain's hand-off) wakes that queue's poller at once instead of after its back-off.
        if not isinstance(services.queues, WakingQueues):
            services.queues = WakingQueues(services.queues)
        services.queues.wake = self._wake_poller
        self.queues = services.queues
        self._threads: list[threading.Thread] = []
        self._leases: dict[int, tuple[str, Any, float]] = {}  # running messages: queue, message, next renewal due
        self._leases_lock = threading.Lock()
        self._poller_state = {q.queue: PollerState(q.queue) for q in self.queue_functions}
        if listen_socket is None:
            self.server = LocalHttpServer((host, port), self._handler_class())
        else:  # a worker process: accept on the socket its first worker bound
            self.server = LocalHttpServer(listen_socket.getsockname()[:2], self._handler_class(), bind_and_activate=False)
            self.server.socket.close()
            self.server.socket = listen_socket
            self.server.server_address = listen_socket.getsockname()[:2]
        self.server.daemon_threads = True
        self.server.max_connections = max_connections
        if not services.settings.public_base_url:  # links point here, never at the Host header a caller sent
            services.settings = dataclasses.replace(services.settings, public_base_url=self.url)
        names = sorted({q.queue for q in self.queue_functions} | {o for f in self.http_functions for o in f.outputs.values()}
                       | {o for q in self.queue_functions for o in q.outputs.values()})
        self.queues.ensure_queues(names + [f"{n}-poison" for n in names])

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}"

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> "LocalHost":
        # A short poll interval lets stop() end the server at once (serve_forever checks for shutdown between polls).
        t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True)
        t.start()
        self._threads.append(t)
        for qf in self.queue_functions:
            t = threading.Thread(target=self._poll, args=(qf,), name=f"queue-{qf.queue}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._keep_leased, name="lease-renewal", daemon=True)
        t.start()
        self._threads.append(t)
        if self.timer_functions and self.timer_interval > 0:
            t = threading.Thread(target=self._run_timers, name="timers", daemon=True)
            t.start()
            self._threads.append(t)
        register_pollers(self.poller_status)
        log.info("local host on %s: %d HTTP and %d queue functions", self.url, len(self.http_functions), len(self.queue_functions))
        return self

    def stop(self) -> None:
        register_pollers(None)
        self._stop.set()
        for e in self._wake.values():
            e.set()
        self.server.shutdown()
        self.server.server_close()
        for t in self._threads:
            t.join(timeout=30)

    # --- output bindings ----------------------------------------------------------------------
    @staticmethod
    def _output_messages(outs: dict[str, Out], outputs: dict[str, str]) -> list[tuple[str, str]]:
        """What the invocation's output bindings hold, as (queue, text)."""
        sends = []
        for arg, out in outs.items():
            if out.value is None:
                continue
            values = out.value if isinstance(out.value, list) else [out.value]
            sends += [(outputs[arg], v if isinstance(v, str) else json.dumps(v)) for v in values]
        return sends

    def _wake_poller(self, queue: str) -> None:
        event = self._wake.get(queue)
        if event is not None:
            event.set()

    # --- queue triggers ----------------------------------------------------------------------
    def _poll(self, qf: QueueFunction) -> None:
        """Receive and dispatch, forever: a storage error (a locked queue file, an unreachable account) is logged
        and retried with backoff, never the end of the poller."""
        opts = self.options
        in_flight = 0
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=opts.batch_size, thread_name_prefix=f"run-{qf.queue}")
        state = self._poller_state[qf.queue]
        delay = 0.05
        error_pause = ERROR_BACKOFF_START

        def done(_):
            nonlocal in_flight
            with lock:
                in_flight -= 1
                room_again = in_flight == opts.new_batch_threshold  # the poller was full and waits for room
            if room_again:
                self._wake[qf.queue].set()

        while not self._stop.is_set():
            with lock:
                room = opts.batch_size if in_flight <= opts.new_batch_threshold else 0
            try:
                messages = self.queues.receive(qf.queue, room, self.lease_seconds) if room else []
            except Exception as exc:  # noqa: BLE001 - storage trouble: back off and keep polling
                state.failed(exc)
                log.warning("poller %s: receive failed %d time(s) in a row (%s: %s); retry in %.1f s", qf.queue,
                            state.consecutive_errors, type(exc).__name__, str(exc)[:200], error_pause)
                self._stop.wait(error_pause)
                error_pause = min(error_pause * 2, ERROR_BACKOFF_MAX)
                continue
            if state.consecutive_errors:
                log.info("poller %s: storage answers again after %d failed tries", qf.queue, state.consecutive_errors)
            state.polled()
            error_pause = ERROR_BACKOFF_START
            for m in messages:
                with lock:
                    in_flight += 1
                pool.submit(self._invoke_queue, qf, m).add_done_callback(done)
            if messages:
                delay = 0.05
                if len(messages) == room:  # there may be more waiting; fewer than asked for means the queue is drained
                    continue
            self._wake[qf.queue].wait(delay)
            self._wake[qf.queue].clear()
            delay = min(delay * 2, opts.max_polling_interval)
        pool.shutdown(wait=True)

    def poller_status(self) -> list[PollerStatus]:
        threads = {t.name: t for t in self._threads}
        return [state.status(threads.get(f"queue-{queue}")) for queue, state in sorted(self._poller_state.items())]

    def _invoke_queue(self, qf: QueueFunction, m) -> None:
        msg = QueueMessage(id=m.id, body=m.text.encode("utf-8"), dequeue_count=m.dequeue_count, pop_receipt=m.pop_receipt)
        outs = {arg: Out() for arg in qf.outputs}
        self._lease_start(qf.queue, m)
        try:
            qf.fn(**{qf.trigger_arg: msg}, **outs)
        except Exception as exc:  # noqa: BLE001 - the host's retry policy applies
            self._lease_end(m)
            try:
                if m.dequeue_count >= self.options.max_dequeue_count:
                    log.error("%s: message %s failed %d times (%s); moved to %s-poison", qf.name, m.id, m.dequeue_count,
                              type(exc).__name__, qf.queue)
                    self.queues.send(f"{qf.queue}-poison", m.text)
                    self.queues.delete(qf.queue, m)
                else:
                    log.warning("%s: message %s failed on try %d (%s); retry in %.1f s", qf.name, m.id, m.dequeue_count,
                                type(exc).__name__, self.options.visibility_timeout)
                    self.queues.release(qf.queue, m, self.options.visibility_timeout)
            except Exception as storage_exc:  # noqa: BLE001 - the lease runs out and the message returns
                log.warning("%s: message %s could not be released (%s); it returns after its lease", qf.name, m.id,
                            type(storage_exc).__name__)
            return
        self._lease_end(m)
        try:
            self.queues.hand_on(qf.queue, m, self._output_messages(outs, qf.outputs))
        except Exception as exc:  # noqa: BLE001 - redelivered after its lease: the step finds its result and passes it on
            log.warning("%s: message %s done but not passed on (%s); it returns after its lease", qf.name, m.id,
                        type(exc).__name__)

    def _lease_start(self, queue: str, m) -> None:
        with self._leases_lock:
            self._leases[id(m)] = (queue, m, time.monotonic() + self.lease_seconds / 2)

    def _lease_end(self, m) -> None:
        """After this no renewal of the message runs or starts, so its pop receipt is final for the delete."""
        with self._leases_lock:
            self._leases.pop(id(m), None)

    def _keep_leased(self) -> None:
        """Renew each running message's lease at half its length while its function runs, as the Functions host
        does; one thread for every message of the process. A process that dies stops renewing, so its messages
        return after one lease."""
        while not self._stop.wait(min(1.0, self.lease_seconds / 8)):
            with self._leases_lock:  # held while renewing: a message ends only between renewals
                now = time.monotonic()
                for key, (queue, m, due) in list(self._leases.items()):
                    if now < due:
                        continue
                    try:
                        self.queues.renew(queue, m, self.lease_seconds)
                    except Exception as exc:  # noqa: BLE001 - try again at the next half lease
                        log.warning("lease of message %s on %s not renewed (%s)", m.id, queue, type(exc).__name__)
                    self._leases[key] = (queue, m, now + self.lease_seconds / 2)

    # --- timer triggers ----------------------------------------------------------------------
    def _run_timers(self) -> None:
        """Each timer function at start, then every timer_interval seconds (the recovery sweep: a request stranded
        by a crash is sent on within seconds of the host coming back). Every worker process runs them: they claim
        what they work on."""
        while True:
            for tf in self.timer_functions:
                try:
                    tf.fn(**{tf.trigger_arg: TimerCall()})
                except Exception as exc:  # noqa: BLE001 - the next round tries again
                    log.warning("timer %s failed (%s)", tf.name, type(exc).__name__)
            if self._stop.wait(self.timer_interval):
                return

    # --- HTTP triggers -----------------------------------------------------------------------
    def serve_console(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """The review console's static files, as Front Door serves them from Blob in Azure."""
        root = (ROOT / "console").resolve()
        try:
            target = (root / (path[len("console/"):] or "index.html")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if root not in target.parents or not target.is_file():
                return _json_error(404, "not_found", "no such file")
            data = target.read_bytes()
        except (OSError, ValueError):  # a name too long or with a NUL byte names no file of ours
            return _json_error(404, "not_found", "no such file")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return 200, {"Content-Type": kind, "Cache-Control": "no-cache", "Content-Security-Policy": CONSOLE_CSP}, data

    def caller_known(self, params: dict[str, str], headers: dict[str, str]) -> bool:
        """The platform's check: the function key, or (as Front Door adds the key in Azure) a known credential."""
        from functions.http.access import bearer_token

        token = bearer_token(headers)
        if token:
            return self.services.credentials.authenticate(token) is not None
        return secrets.compare_digest((params.get("code") or headers.get("x-functions-key", "")).encode(),
                                      self.function_key.encode())

    def refusal(self, params: dict[str, str], headers: dict[str, str]) -> "Answer":
        """The 401 the API itself would give, with its precise cause and challenge."""
        from functions.errors import Unauthorized
        from functions.http.access import authenticate

        try:
            authenticate(headers, params, self.services)
            error = Unauthorized("a credential is required (Authorization: Bearer <key>)")
        except Unauthorized as exc:
            error = exc
        status, answer_headers, body = _json_error(401, error.code, error.message)
        return status, {**answer_headers, **error.headers}, body

    def resolve(self, method: str, raw_path: str, headers: dict[str, str]) -> "Resolved | Answer":
        """Route and key check, from the request line and headers alone: nothing here reads the body."""
        try:
            parts = urlsplit(raw_path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
        except ValueError:
            return _json_error(400, "bad_request", "the request target cannot be parsed")
        path = parts.path.lstrip("/")
        if method == "GET" and path == "console":
            return 301, {"Location": "/console/"}, b""  # relative links in the page need the slash
        if method == "GET" and path.startswith("console/"):
            return self.serve_console(path)
        prefix = self.route_prefix + "/"
        if not path.startswith(prefix):
            return _json_error(404, "not_found", "no such route")
        route_path = path[len(prefix):]
        matched = [(f, m) for f in self.http_functions if (m := f.regex.match(route_path))]
        if not matched:
            return _json_error(404, "not_found", "no such route")
        chosen = next(((f, m) for f, m in matched if method in f.methods), None)
        if chosen is None:
            allowed = sorted({m for f, _ in matched for m in f.methods})
            status, headers, body = _json_error(405, "method_not_allowed", f"{method} is not allowed here; allowed: {', '.join(allowed)}")
            return status, {**headers, "Allow": ", ".join(allowed)}, body
        f, match = chosen
        if f.auth_level != "anonymous" and not self.caller_known(params, headers):
            return self.refusal(params, headers)
        return Resolved(f, match.groupdict(), params)

    def invoke(self, resolved: "Resolved", method: str, raw_path: str, headers: dict[str, str], body: bytes) -> "Answer":
        f = resolved.function
        host_header = headers.get("host", f"127.0.0.1:{self.port}")
        outs = {arg: Out() for arg in f.outputs}
        try:
            req = func.HttpRequest(method=method, url=f"http://{host_header}{raw_path}", headers=headers, params=resolved.params,
                                   route_params=resolved.route_params, body=body)
            response = f.fn(**{f.trigger_arg: req}, **outs)
            for queue, text in self._output_messages(outs, f.outputs):
                self.queues.send(queue, text)
        except Exception:  # noqa: BLE001 - as the real host: a 500 without details
            log.exception("%s failed", f.name)
            return _json_error(500, "internal_error", "the function failed; see the host log")
        out_headers = {k: v for k, v in response.headers.items()}
        if response.mimetype:
            out_headers.setdefault("Content-Type", response.mimetype)
        return response.status_code, out_headers, response.get_body() or b""

    def _handler_class(self):
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            default_request_version = "HTTP/1.0"  # even a refused bare request line gets a status line
            timeout = 30.0  # a client that stops sending frees its thread
            # An answer leaves at once: with Nagle's algorithm on, a write after the headers waited for the
            # client's delayed ACK (about 40 ms on Linux) on every keep-alive request.
            disable_nagle_algorithm = True
            unread_body = LINGER_BYTES  # what a refused client may still be sending, discarded before the close

            def _serve(self) -> None:
                try:
                    status, headers, body = self._answer()
                except TimeoutError:
                    status, headers, body = _json_error(408, "request_timeout", "the body did not arrive in time")
                    self.close_connection = True
                except Exception:  # noqa: BLE001 - the client gets an answer, never a dropped connection
                    log.exception("%s %s failed in the host", self.command, self.path[:200])
                    status, headers, body = _json_error(500, "internal_error", "the host failed; see its log")
                    self.close_connection = True
                self._reply(status, headers, body)

            def _answer(self) -> Answer:
                """Length and key first; the body is read only for a request that will be served."""
                length, problem = declared_length(self.command, self.headers, host.max_body)
                if problem is not None:
                    self.close_connection = True  # the unread body must not be parsed as the next request
                    return problem
                self.unread_body = max(length, LINGER_BYTES)  # within the limit: drained in full if refused
                headers_in = {k.lower(): v for k, v in self.headers.items()}
                resolved = host.resolve(self.command, self.path, headers_in)
                if not isinstance(resolved, Resolved):
                    if length:
                        self.close_connection = True
                    return resolved
                payload = self.rfile.read(length) if length else b""
                self.unread_body = LINGER_BYTES
                if len(payload) < length:
                    self.close_connection = True
                    return _json_error(400, "incomplete_body", f"the body ended after {len(payload)} of {length} declared bytes")
                return host.invoke(resolved, self.command, self.path, headers_in, payload)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                if not any(k.lower() == "x-request-id" for k in headers):  # answered before any route ran
                    sent = getattr(self, "headers", None)  # absent when the request line itself was refused
                    headers = {**headers, "X-Request-Id": request_id_from({k.lower(): v for k, v in (sent or {}).items()})}
                given = {k.lower() for k in headers}
                for k, v in [*headers.items(), *((k, v) for k, v in SECURITY_HEADERS.items() if k.lower() not in given)]:
                    if k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                if self.command != "HEAD" and hasattr(self, "_headers_buffer"):
                    self._headers_buffer.append(b"\r\n" + body)  # status line, headers and body in one write
                    self.flush_headers()
                else:
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                if self.close_connection:
                    self._linger()

            def _linger(self) -> None:
                """Discard what the client is still sending before closing, so the close does not reset the
                connection and destroy the answer in flight: a body within the limit in full, anything else up to
                LINGER_BYTES, for LINGER_SECONDS at most; the bytes are never kept."""
                try:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_WR)
                    self.connection.settimeout(0.5)
                    drained, deadline = 0, time.monotonic() + LINGER_SECONDS
                    while drained < self.unread_body and time.monotonic() < deadline:
                        chunk = self.connection.recv(65536)
                        if not chunk:
                            break
                        drained += len(chunk)
                except OSError:
                    pass

            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if len(self.requestline.split()) != 3:  # a bare "GET /path" (HTTP/0.9) line
                    self.send_error(400, "a request line needs an HTTP version")
                    return False
                return True

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """The standard library's own refusals (bad request line, headers too long) as JSON errors too."""
                names = {400: "bad_request", 408: "request_timeout", 414: "uri_too_long", 431: "headers_too_large"}
                self.close_connection = True
                self._reply(*_json_error(code, names.get(code, "bad_request"), message or "the request cannot be read"))

            def __getattr__(self, name: str):
                if name.startswith("do_"):  # every method reaches routing, which answers 405 for the unknown ones
                    return self._serve
                raise AttributeError(name)

            def log_message(self, fmt: str, *args) -> None:  # request lines only, never bodies
                log.debug("%s %s", self.address_string(), fmt % args)

        return Handler


Answer = tuple[int, dict[str, str], bytes]
LINGER_BYTES = 1 << 20
LINGER_SECONDS = 5.0
_LENGTH = re.compile(r"[0-9]{1,19}")
_BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass
class Resolved:
    function: HttpFunction
    route_params: dict[str, str]
    params: dict[str, str]


def declared_length(method: str, headers, limit: int) -> tuple[int, Answer | None]:
    """The body length the client declared, or the answer refusing it (400 bad value, 411 none, 413 too large)."""
    values = headers.get_all("Content-Length") or []
    if headers.get("Transfer-Encoding"):
        return 0, _json_error(411, "length_required", "chunked bodies are not accepted: send Content-Length")
    if not values:
        if method.upper() in _BODY_METHODS:
            return 0, _json_error(411, "length_required", f"{method} needs a Content-Length header")
        return 0, None
    if len(set(v.strip() for v in values)) != 1 or not _LENGTH.fullmatch(values[0].strip()):
        return 0, _json_error(400, "invalid_content_length", "Content-Length must be one non-negative whole number")
    length = int(values[0].strip())
    if length > limit:
        return 0, _json_error(413, "body_too_large", f"request body is over the {limit} byte limit")
    return length, None


def _json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"error": {"code": code, "message": message}}).encode()


def tune_malloc() -> None:
    """Decoded images are large, short-lived buffers: give them back to the OS when freed (a fixed mmap threshold)
    and keep threads on two heaps, rather than let each thread's heap keep its high-water mark.

    In Azure the same comes from the MALLOC_* app settings (infra/main.bicep), which glibc reads at start.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    libc.mallopt(-8, 2)  # M_ARENA_MAX


def local_function_key(data_dir: Path) -> str:
    from functions.crypto.service_secrets import local_function_key as key

    return key(data_dir)


def console_and_file_logging(level: str, log_file: Path, log_format: str = "text"):
    """bioauth's own lines on the console; everything, third-party warnings included, in the log file.

    Native libraries (mediapipe's absl/glog lines) write to file descriptor 2 directly, so the descriptor itself is
    pointed at the log file and the console keeps a copy of the original.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    console = os.fdopen(os.dup(2), "w", buffering=1)
    sink = open(log_file, "a", buffering=1)
    os.dup2(sink.fileno(), 2)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    to_console = logging.StreamHandler(console)
    to_console.setFormatter(fmt)
    to_console.addFilter(lambda record: record.name.startswith("bioauth") or record.levelno >= logging.ERROR)
    to_file = logging.StreamHandler(sink)
    to_file.setFormatter(fmt)
    logging.basicConfig(level=level, handlers=[to_console, to_file], force=True)
    configure_logging(log_format, [to_console, to_file])  # the ids on every line; BIOAUTH_LOG_FORMAT=json for JSON
    logging.captureWarnings(True)
    return console


class PortBusy(Exception):
    pass


def open_host(app, services, port: int | None, host: str, lease_seconds: float) -> "LocalHost":
    """The host on the port asked for; on a busy default port, the next free one (said on the console)."""
    wanted = port if port is not None else DEFAULT_PORT
    candidates = [wanted] if port is not None else [wanted, *range(wanted + 1, wanted + 20), 0]
    for candidate in candidates:
        try:
            return LocalHost(app, services, port=candidate, host=host, lease_seconds=lease_seconds)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            if port is not None:
                raise PortBusy(f"bioauth local host: port {wanted} on {host} is in use (another local host, or "
                               f"Core Tools' func start?). Stop it, or choose another port with --port.") from None
            log.debug("port %d is in use", candidate)
    raise PortBusy("bioauth local host: no free port")  # port 0 always binds


def warm_up() -> None:
    """Load the served models and a face detector before the first request needs them (a worker started again
    after a crash would otherwise make its first devices wait about a second). Runs in the background."""
    import numpy as np

    from functions.errors import ModelNotInstalled
    from functions.biometrics.face_detection import detect_faces
    from functions.onnx_models import load_model
    from functions.biometrics import face_matching, liveness, signature_verification

    try:
        for name in (face_matching.MODEL_NAME, liveness.MODEL_NAME, signature_verification.MODEL_NAME):
            try:
                load_model(name)
            except ModelNotInstalled:
                pass
        detect_faces(np.zeros((128, 128, 3), np.uint8))
    except Exception as exc:  # noqa: BLE001 - the first request loads what is missing and says why
        log.warning("warm-up did not finish (%s); models load on first use", type(exc).__name__)


class WorkerProcesses:
    """The other worker processes of a multi-process local host, started on the first worker's listening socket.

    Every worker accepts on the same socket (made non-blocking, so a worker
    that loses the race for a connection goes back to waiting) and polls the
    same queues; a worker that dies is started again, at most once a second.
    """

    def __init__(self, listen_socket: socket.socket, count: int, worker_args: list[str], console=None):
        self.socket = listen_socket
        self.console = console  # the first worker's own console: its file descriptor 2 now points at the log file
        self.count = count
        self.worker_args = worker_args
        self.processes: dict[int, subprocess.Popen] = {}
        self._last_start: dict[int, float] = {}

    def _start(self, index: int) -> None:
        fd = self.socket.fileno()
        self.processes[index] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--listen-fd", str(fd), "--worker-index", str(index),
             *self.worker_args], pass_fds=(fd,), cwd=ROOT, stdout=self.console, stderr=self.console,
            start_new_session=True)  # a Ctrl-C at the terminal reaches the first worker only, which stops the rest
        self._last_start[index] = time.monotonic()

    def start(self) -> "WorkerProcesses":
        self.socket.setblocking(False)
        for index in range(1, self.count):
            self._start(index)
        return self

    def keep_alive(self) -> None:
        for index, proc in list(self.processes.items()):
            code = proc.poll()
            if code is not None and time.monotonic() - self._last_start[index] >= 1.0:
                log.error("worker %d (pid %d) ended with code %s; starting it again", index, proc.pid, code)
                self._start(index)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def default_workers() -> int:
    """FUNCTIONS_WORKER_PROCESS_COUNT, the Functions host's own setting for worker processes; 1 when unset."""
    try:
        return max(1, int(os.environ.get("FUNCTIONS_WORKER_PROCESS_COUNT", "1")))
    except ValueError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env_port = os.environ.get("BIOAUTH_LOCAL_PORT")
    parser.add_argument("--port", type=int, default=int(env_port) if env_port else None,
                        help=f"fail if this port is busy (default: {DEFAULT_PORT}, or the next free port when it is busy)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--lease-seconds", type=float, default=60.0,
                        help="how long a received message stays hidden while its step runs (a killed worker's message returns after this)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-file", type=Path, help="where the full log goes (default: local-host.log in the data folder)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="worker processes sharing the port and the queues (default: FUNCTIONS_WORKER_PROCESS_COUNT, else 1)")
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a worker started by the first one
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    load_local_settings()
    tune_malloc()
    if args.host not in ("127.0.0.1", "localhost", "::1") and os.environ.get("BIOAUTH_LOCAL_ADMIN_KEY", "true").lower() != "false":
        # Reachable from other machines: the bootstrap admin key stays off; callers need principals' keys.
        os.environ["BIOAUTH_LOCAL_ADMIN_KEY"] = "false"
        log.warning("listening on %s: the local function key is not an admin key here (BIOAUTH_LOCAL_ADMIN_KEY=false)", args.host)

    from functions.runtime.services import get_services

    settings = get_services().settings
    log_file = args.log_file or settings.data_dir / "local-host.log"
    console = console_and_file_logging(args.log_level, log_file, settings.log_format)

    from function_app import app

    if args.listen_fd is not None:
        return run_worker(app, args)
    try:
        host = open_host(app, get_services(), args.port, args.host, args.lease_seconds)
    except PortBusy as exc:
        print(exc, file=console, flush=True)
        return 1
    workers = None
    if args.workers > 1:
        passed = ["--lease-seconds", str(args.lease_seconds), "--log-level", args.log_level, "--log-file", str(log_file)]
        workers = WorkerProcesses(host.server.socket, args.workers, passed, console).start()
    if args.port is None and host.port != DEFAULT_PORT:
        print(f"bioauth local host: port {DEFAULT_PORT} is in use; serving on port {host.port} instead", flush=True)
    host.start()
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    key_source = ("the BIOAUTH_LOCAL_FUNCTION_KEY variable" if os.environ.get("BIOAUTH_LOCAL_FUNCTION_KEY")
                  else str(settings.data_dir / "local-function-key"))
    print(f"bioauth local host: {host.url}/api  (bootstrap admin key for development in {key_source}; principals: "
          f"python -m functions.admin --help)\n"
          f"  API description {host.url}/api/openapi.json, review console {host.url}/console/, log {log_file}"
          + (f"\n  {args.workers} worker processes" if workers else ""), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.5):  # a timed wait lets the main thread see the signal promptly
        if workers:
            workers.keep_alive()
    if workers:
        workers.stop()
    host.stop()
    print("bioauth local host: stopped", flush=True)
    return 0


def run_worker(app, args) -> int:
    """A further worker process: serve the first worker's socket and the same queues until told to stop or orphaned."""
    from functions.runtime.services import get_services

    listen_socket = socket.socket(fileno=args.listen_fd)
    listen_socket.setblocking(False)
    host = LocalHost(app, get_services(), lease_seconds=args.lease_seconds, listen_socket=listen_socket).start()
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    log.info("worker %d (pid %d) serving %s", args.worker_index, os.getpid(), host.url)
    parent = os.getppid()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        if os.getppid() != parent:  # the first worker is gone: nobody would stop this one
            break
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
