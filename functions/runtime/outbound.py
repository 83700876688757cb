"""Outbound POSTs to addresses others chose: a device's `callback_url` and the review webhook.

A URL in a request is an instruction to send traffic from inside our network,
so every destination is checked before it is used, twice: when the device
gives it (a 400 with `invalid_callback_url` at the POST) and again when the
POST is made (the name may resolve elsewhere by then). A destination passes
only if it is an https URL without user name or password whose host resolves
to public addresses only; every spelling of an address is read the way the
socket layer reads it (`127.1`, `0x7f000001`, `2130706433`, IPv4-mapped IPv6,
6to4, NAT64), so what is checked is what would be connected to. The
connection then goes to the checked address (pinned), with the URL's name in
the Host header and in TLS (SNI and certificate check), so a second lookup
cannot swap the address. Redirects are never followed.

Each try has one total deadline (connect, TLS, send, the status line and
headers), enforced by a timer that shuts the socket, so a receiver that
answers one byte at a time is cut off like one that does not answer. Tries
are bounded, with backoff, inside one overall budget, and a try that ran out
its deadline is not repeated in-process (the queue tries later). At most a
few POSTs to one destination run at once in a process; one more waits a
tenth of a deadline for a slot, then is deferred to the queue, so a slow
receiver holds back only its own callbacks, never a worker for long or
anyone else's deliveries.

Local development and tests may allow loopback receivers over http
(BIOAUTH_ALLOW_LOOPBACK_CALLBACKS); nothing else is ever allowed.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from ..errors import InvalidRequest

log = logging.getLogger("bioauth.outbound")

MAX_URL_LENGTH = 2048
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# IPv6 prefixes that carry an IPv4 address inside: the embedded address is what the packet may end up reaching.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

Resolver = Callable[[str, int], list[str]]


class UnsafeDestination(InvalidRequest):
    """A URL we will not send to: wrong scheme, credentials in it, or an address that is not public."""

    code = "invalid_callback_url"


class DeliveryFailed(ConnectionError):
    """No try succeeded but a later one may (timeouts, connection errors, 5xx, 408, 429): the queue retries."""


class DestinationBusy(DeliveryFailed):
    """The destination already has its share of POSTs in flight in this process: try again later, from the queue."""


@dataclass(frozen=True)
class OutboundPolicy:
    """What outbound POSTs may reach and how long they may take."""

    allow_loopback: bool = False  # development and tests: http and 127.0.0.0/8, ::1 receivers
    attempt_deadline_seconds: float = 5.0  # one try, everything included
    budget_seconds: float = 15.0  # all tries and the waits between them
    tries: int = 3
    per_destination: int = 2  # POSTs in flight to one host:port in this process
    blocked: frozenset[str] = frozenset()  # "host:port" never to call (the service's own public address)
    own: tuple[str, int] | None = None  # the service's own host and port: no address it resolves to is a destination
    resolver: Resolver | None = None  # host, port -> addresses; None = the system's resolver
    ssl_context: ssl.SSLContext | None = None  # None = the system's trust store with hostname checks


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (the pinned address) and what to call it (Host header, SNI)."""

    scheme: str
    host: str  # lower-case ASCII name or the address's text
    port: int
    target: str  # path and query
    address: str  # the checked IP to connect to

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"

    @property
    def key(self) -> str:
        """What per-destination limits count by."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended, as recorded in the step's result (no URL: it may carry a device's token)."""

    status: str  # "delivered" or "failed" (permanently: retrying would not help)
    delivery_id: str
    tries: int
    http_status: int | None = None
    reason: str | None = None
    destination: str = ""  # host:port only
    at: str = ""

    def to_dict(self) -> dict:
        d = {"status": self.status, "delivery_id": self.delivery_id, "tries": self.tries, "destination": self.destination}
        if self.http_status is not None:
            d["http_status"] = self.http_status
        if self.reason:
            d["reason"] = self.reason
        if self.at:
            d["at"] = self.at
        return d


# --- what an address may be ---------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated): some stacks still route it as IPv4.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why an address may not be called (None = it may): the reason names the address class, never the URL."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not_an_address"
    if "%" in address:
        return "scoped_address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(str(inner), allow_loopback=allow_loopback)
            return reason and f"{reason}_in_ipv6"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for name in ("unspecified", "link_local", "multicast", "private", "reserved", "site_local"):
        if getattr(ip, f"is_{name}", False):
            return name
    if not ip.is_global:
        return "not_global"  # shared address space (100.64/10) and other special ranges
    return None


# --- what a URL may be --------------------------------------------------------------------------


def _refuse(message: str, reason: str) -> UnsafeDestination:
    return UnsafeDestination(message, details={"field": "callback_url", "reason": reason})


def parse_url(url: object, policy: OutboundPolicy) -> tuple[str, str, int, str]:
    """(scheme, host, port, target) of a URL that is well formed for us; refuses the rest. No lookup yet."""
    if not isinstance(url, str) or not url:
        raise _refuse("callback_url must be an absolute https URL", "not_a_string")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"callback_url is longer than {MAX_URL_LENGTH} characters", "too_long")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise _refuse("callback_url contains spaces, control characters or backslashes", "bad_characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _refuse("callback_url must be an https URL", "scheme")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise _refuse("callback_url must not carry a user name or password", "userinfo")
    raw_host = parts.hostname
    if not raw_host:
        raise _refuse("callback_url has no host", "no_host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise _refuse("callback_url has an invalid port", "port") from None
    if not 0 < port < 65536:
        raise _refuse("callback_url has an invalid port", "port")
    if parts.netloc.startswith("["):
        if "%" in raw_host:
            raise _refuse("callback_url may not use a scoped IPv6 address", "scoped_address")
        try:
            host = str(ipaddress.IPv6Address(raw_host))
        except ValueError:
            raise _refuse("callback_url has an invalid IPv6 address", "bad_host") from None
    else:
        try:
            host = raw_host.rstrip(".").encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise _refuse("callback_url has an invalid host name", "bad_host") from None
        if not _HOST_NAME.match(host):
            raise _refuse("callback_url has an invalid host name", "bad_host")
    if f"{host}:{port}" in policy.blocked:
        raise _refuse("callback_url may not point at this service", "self")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, target


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


_lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


def resolve(host: str, port: int, policy: OutboundPolicy, timeout: float) -> list[str]:
    """Every address the host name stands for, as the socket layer reads it (so `127.1` is 127.0.0.1)."""
    resolver = policy.resolver or _system_resolver
    future = _lookups.submit(resolver, host, port)
    try:
        addresses = future.result(timeout=max(0.05, timeout))
    except FutureTimeout:
        raise _refuse("callback_url's host did not resolve in time", "no_address") from None
    except (OSError, UnicodeError):
        raise _refuse("callback_url's host does not resolve", "no_address") from None
    if not addresses:
        raise _refuse("callback_url's host does not resolve", "no_address")
    return addresses


def reaches_self(addresses: list[str], port: int, policy: OutboundPolicy) -> bool:
    """Whether these addresses on this port are the service itself, judged by address, not by spelling
    (`localhost`, `127.1` and an /etc/hosts name all reach a host listening on 127.0.0.1). A loopback service is
    reached by every loopback address (a server on 0.0.0.0 answers on all of 127.0.0.0/8 and ::1)."""
    if policy.own is None or port != policy.own[1]:
        return False
    try:
        own = {ipaddress.ip_address(a) for a in resolve(policy.own[0], port, policy, 1.0)}
    except UnsafeDestination:
        return False
    own_loopback = any(a.is_loopback for a in own)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip in own or (own_loopback and ip.is_loopback):
            return True
    return False


def check_destination(url: object, policy: OutboundPolicy, *, timeout: float | None = None) -> Destination:
    """A destination we may POST to, with the address to pin; raises UnsafeDestination otherwise.

    Every address the name resolves to must be allowed, not just the first,
    so a name with one public and one private address is refused.
    """
    scheme, host, port, target = parse_url(url, policy)
    if scheme == "http" and not policy.allow_loopback:
        raise _refuse("callback_url must be an https URL", "scheme")
    addresses = resolve(host, port, policy, policy.attempt_deadline_seconds if timeout is None else timeout)
    loopback_only = True
    for address in addresses:
        reason = address_refusal(address, allow_loopback=policy.allow_loopback)
        if reason:
            raise _refuse(f"callback_url must reach a public address ({reason.replace('_', ' ')})", reason)
        loopback_only = loopback_only and ipaddress.ip_address(address).is_loopback
    if scheme == "http" and not (policy.allow_loopback and loopback_only):
        raise _refuse("callback_url must be an https URL", "scheme")
    if reaches_self(addresses, port, policy):
        raise _refuse("callback_url may not point at this service", "self")
    return Destination(scheme=scheme, host=host, port=port, target=target, address=addresses[0])


# --- one POST to a pinned address ---------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, dest: Destination, timeout: float):
        super().__init__(dest.host, dest.port, timeout=timeout)
        self._address = dest.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, dest: Destination, timeout: float, context: ssl.SSLContext):
        super().__init__(dest.host, dest.port, timeout=timeout, context=context)
        self._address = dest.address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = raw  # the deadline timer can shut it down during the handshake
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def default_ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # the system's store
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass
class _Attempt:
    status: int | None = None
    error: str | None = None
    timed_out: bool = False


def post_once(dest: Destination, body: bytes, headers: dict[str, str], policy: OutboundPolicy, deadline_seconds: float) -> _Attempt:
    """One POST to the pinned address, cut off at the deadline whatever the receiver does."""
    if dest.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(dest, deadline_seconds, policy.ssl_context or default_ssl_context())
    else:
        conn = _PinnedHTTPConnection(dest, deadline_seconds)
    attempt = _Attempt()

    def cut_off() -> None:
        attempt.timed_out = True
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(deadline_seconds, cut_off)
    timer.daemon = True
    timer.start()
    try:
        conn.putrequest("POST", dest.target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", dest.host_header)
        for name, value in {**headers, "Content-Length": str(len(body)), "Connection": "close"}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()  # status line and headers only; the body is never read
        attempt.status = response.status
    except ssl.SSLCertVerificationError:
        attempt.error = "tls_certificate"
    except (OSError, http.client.HTTPException) as exc:
        # The socket's own timeout is the deadline too: whichever fires first, the try ran out of time.
        attempt.error = "deadline" if attempt.timed_out or isinstance(exc, TimeoutError) else type(exc).__name__
    finally:
        timer.cancel()
        conn.close()
    if attempt.timed_out and attempt.status is None:
        attempt.error = "deadline"
    return attempt


# --- deliveries -----------------------------------------------------------------------------------


class _DestinationSlots:
    """At most `limit` POSTs in flight per destination in this process; one more waits briefly, then is turned away."""

    def __init__(self) -> None:
        self._freed = threading.Condition()
        self._in_flight: dict[str, int] = {}

    def take(self, key: str, limit: int, wait_seconds: float) -> bool:
        with self._freed:
            if not self._freed.wait_for(lambda: self._in_flight.get(key, 0) < limit, timeout=wait_seconds):
                return False
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return True

    def give_back(self, key: str) -> None:
        with self._freed:
            left = self._in_flight.get(key, 1) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
            self._freed.notify_all()


_slots = _DestinationSlots()

# Answers worth another try: the receiver may be back later. Any other 4xx, and any 3xx, is final.
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass
class Delivery:
    """One message to one receiver: the body, a stable id, and how to sign each try."""

    url: str
    body: bytes
    delivery_id: str
    sign: Callable[[str, int, bytes], dict[str, str]]  # (delivery id, timestamp, body) -> headers
    content_type: str = "application/json"
    extra_headers: dict[str, str] = field(default_factory=dict)
    kind: str = "callback"  # "callback" (devices) or "webhook" (reviewers): each has its own in-flight slots


def deliver(delivery: Delivery, policy: OutboundPolicy, *, now_iso: Callable[[], str] = lambda: "") -> DeliveryResult:
    """POST until a 2xx, a final answer, or the tries or the budget run out.

    Returns a result for a 2xx and for final refusals (a redirect, a 4xx, a
    destination that is no longer allowed); raises DeliveryFailed when a later
    try from the queue may succeed, and DestinationBusy at once when the
    destination already has its share of POSTs in flight.
    """
    started = time.monotonic()
    try:
        dest = check_destination(delivery.url, policy)
    except UnsafeDestination as exc:
        log.warning("delivery %s refused: %s", delivery.delivery_id, exc.details.get("reason"))
        return DeliveryResult("failed", delivery.delivery_id, 0, reason=f"refused_{exc.details.get('reason')}", at=now_iso())
    # A receiver that answers promptly frees a slot within this wait; one that holds its slots does not. Device
    # callbacks and review webhooks count apart: a slow device receiver on the webhook's host:port cannot starve it.
    slot = f"{delivery.kind}|{dest.key}"
    if not _slots.take(slot, policy.per_destination, wait_seconds=policy.attempt_deadline_seconds / 10):
        raise DestinationBusy(f"{dest.key} has {policy.per_destination} {delivery.kind} deliveries in flight; deferred")
    try:
        last = ""
        tries = 0
        for tries in range(1, policy.tries + 1):
            remaining = policy.budget_seconds - (time.monotonic() - started)
            if remaining <= 0.05:
                break
            timestamp = int(time.time())
            headers = {"Content-Type": delivery.content_type, "User-Agent": "bioauth-webhook/1",
                       **delivery.extra_headers, **delivery.sign(delivery.delivery_id, timestamp, delivery.body)}
            attempt = post_once(dest, delivery.body, headers, policy, min(policy.attempt_deadline_seconds, remaining))
            if attempt.status is not None and 200 <= attempt.status < 300:
                return DeliveryResult("delivered", delivery.delivery_id, tries, http_status=attempt.status,
                                      destination=dest.key, at=now_iso())
            if attempt.status is not None and attempt.status < 500 and attempt.status not in RETRY_STATUSES:
                reason = "redirect_not_followed" if 300 <= attempt.status < 400 else "refused_by_receiver"
                log.warning("delivery %s to %s: HTTP %d, final (%s)", delivery.delivery_id, dest.key, attempt.status, reason)
                return DeliveryResult("failed", delivery.delivery_id, tries, http_status=attempt.status, reason=reason,
                                      destination=dest.key, at=now_iso())
            if attempt.error == "tls_certificate":
                return DeliveryResult("failed", delivery.delivery_id, tries, reason="tls_certificate", destination=dest.key, at=now_iso())
            last = f"HTTP {attempt.status}" if attempt.status is not None else attempt.error or "error"
            log.warning("delivery %s to %s: try %d of %d failed (%s)", delivery.delivery_id, dest.key, tries, policy.tries, last)
            if attempt.error == "deadline":
                break  # a receiver that ran out the clock once would again: the queue tries later, the worker moves on
            if tries < policy.tries:
                pause = min(0.5 * 2 ** (tries - 1), policy.budget_seconds - (time.monotonic() - started) - 0.1)
                if pause > 0:
                    time.sleep(pause)
        raise DeliveryFailed(f"not delivered to {dest.key} after {tries} tries: {last}")
    finally:
        _slots.give_back(slot)


def policy_from_settings(settings) -> OutboundPolicy:
    """The policy the settings describe; the service's own public address is never a destination."""
    own = urlsplit(settings.public_base_url or "")
    port = own.port or (443 if own.scheme == "https" else 80) if own.hostname else None
    return OutboundPolicy(
        allow_loopback=settings.allow_loopback_callbacks,
        attempt_deadline_seconds=settings.delivery_deadline_seconds,
        budget_seconds=settings.delivery_deadline_seconds * settings.delivery_tries,
        tries=settings.delivery_tries,
        per_destination=settings.delivery_per_destination,
        blocked=frozenset({f"{own.hostname.lower()}:{port}"}) if own.hostname else frozenset(),
        own=(own.hostname, port) if own.hostname else None,
    )
