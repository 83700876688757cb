"""Callbacks and the review webhook reach only public https receivers, pinned, with one deadline per try.

Each test is an attack from the security review: loopback and metadata
addresses in every spelling, credentials in the URL, redirects, a receiver
that answers one byte every five seconds, a name that resolves elsewhere by
the time the POST is made. Receivers are real sockets on 127.0.0.1; the
loopback allowance is on only where a test says so.
"""

from __future__ import annotations

import threading
import time

import pytest

from functions.runtime.outbound import (
    Delivery,
    DeliveryFailed,
    DestinationBusy,
    OutboundPolicy,
    UnsafeDestination,
    address_refusal,
    check_destination,
    deliver,
)
from functions.runtime.webhooks import DELIVERY_HEADER, signed_headers, verify
from tests.helpers.receivers import Receiver, SlowReceiver, self_signed_tls

SECRET = b"s" * 32
STRICT = OutboundPolicy()
LOOPBACK = OutboundPolicy(allow_loopback=True, attempt_deadline_seconds=1.0, budget_seconds=3.0, tries=3)

# Every spelling the review found reaching this machine or its network, and their relatives.
REFUSED = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.1/hook", "loopback"),
    ("https://0x7f000001/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://0177.0.0.1/hook", "loopback"),
    ("https://0x7f.1/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://LOCALHOST./hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback_in_ipv6"),
    ("https://[::ffff:7f00:1]/hook", "loopback_in_ipv6"),
    ("https://[64:ff9b::7f00:1]/hook", "loopback_in_ipv6"),
    ("https://[2002:7f00:1::]/hook", "loopback_in_ipv6"),
    ("https://169.254.169.254/latest/meta-data/", "link_local"),
    ("https://[::ffff:169.254.169.254]/", "link_local_in_ipv6"),
    ("https://[fe80::1]/hook", "link_local"),
    ("https://[fe80::1%25eth0]/hook", "scoped_address"),
    ("https://10.0.0.5/hook", "private"),
    ("https://172.16.3.4/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("https://[fd00::1]/hook", "private"),
    ("https://100.64.0.1/hook", "not_global"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://240.0.0.1/hook", "private"),
    ("https://255.255.255.255/hook", "private"),
    ("https://user:pass@example.com/hook", "userinfo"),
    ("https://token@example.com/hook", "userinfo"),
    ("https://example.com@127.0.0.1/hook", "userinfo"),
    ("https://127.0.0.1\\@example.com/hook", "bad_characters"),
    ("http://example.com/hook", "scheme"),
    ("ftp://example.com/hook", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("https:///hook", "no_host"),
    ("https://exa mple.com/", "bad_characters"),
    ("https://example.com:99999/", "port"),
]


@pytest.mark.parametrize("url, reason", REFUSED, ids=[u for u, _ in REFUSED])
def test_every_spelling_of_a_non_public_destination_is_refused(url, reason):
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url, STRICT)
    assert refused.value.code == "invalid_callback_url" and refused.value.http_status == 400
    assert refused.value.details["reason"].startswith(reason.split("_in_")[0]), refused.value.details


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://127.1:9/", "http://localhost:9/", "http://[::1]:9/"])
def test_the_loopback_allowance_opens_loopback_only(url):
    with pytest.raises(UnsafeDestination):
        check_destination(url, STRICT)
    assert check_destination(url, LOOPBACK).address in ("127.0.0.1", "::1")


@pytest.mark.parametrize("url", ["http://10.0.0.5/", "https://169.254.169.254/", "http://user:pw@127.0.0.1:9/", "http://1.1.1.1/"])
def test_the_loopback_allowance_does_not_open_anything_else(url):
    with pytest.raises(UnsafeDestination):
        check_destination(url, LOOPBACK)


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    policy = OutboundPolicy(resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(UnsafeDestination) as refused:
        check_destination("https://mixed.example/hook", policy)
    assert refused.value.details["reason"] == "private"


def test_public_addresses_pass():
    assert address_refusal("93.184.216.34") is None
    assert address_refusal("2606:2800:220:1:248:1893:25c8:1946") is None
    assert check_destination("https://1.1.1.1/hook?x=1", STRICT).target == "/hook?x=1"


def test_the_service_itself_is_not_a_destination():
    policy = OutboundPolicy(blocked=frozenset({"bioauth.example:443"}), resolver=lambda h, p: ["93.184.216.34"])
    with pytest.raises(UnsafeDestination):
        check_destination("https://BIOAUTH.example/api/v1/subjects/alice", policy)
    local = OutboundPolicy(allow_loopback=True, blocked=frozenset({"127.0.0.1:7071"}))
    with pytest.raises(UnsafeDestination):
        check_destination("http://127.0.0.1:7071/api/v1/subjects/alice", local)
    assert check_destination("http://127.0.0.1:8080/hook", local).port == 8080


def _delivery(url: str, secret: bytes = SECRET, delivery_id: str = "d-1") -> Delivery:
    return Delivery(url, b'{"x":1}', delivery_id, lambda d, ts, b: signed_headers(secret, d, ts, b))


def test_a_redirect_is_not_followed_and_not_retried():
    receiver = Receiver(statuses=(302,))
    try:
        result = deliver(_delivery(receiver.url), LOOPBACK)
        assert (result.status, result.reason, result.http_status) == ("failed", "redirect_not_followed", 302)
        time.sleep(0.3)
        assert len(receiver.calls) == 1  # was 465 POSTs for one self-redirecting callback
    finally:
        receiver.close()


def test_a_4xx_is_final_and_a_5xx_is_retried_with_the_same_delivery_id():
    refusing = Receiver(statuses=(403,))
    flaky = Receiver(statuses=(503, 200))
    try:
        assert deliver(_delivery(refusing.url), LOOPBACK).reason == "refused_by_receiver"
        assert len(refusing.calls) == 1
        result = deliver(_delivery(flaky.url, delivery_id="d-42"), LOOPBACK)
        assert (result.status, result.tries) == ("delivered", 2)
        ids = [headers[DELIVERY_HEADER.lower()] for headers, _ in flaky.calls]
        assert ids == ["d-42", "d-42"]  # a receiver that saw the first can drop the second
        assert all(verify(SECRET, headers, body) == "d-42" for headers, body in flaky.calls)
    finally:
        refusing.close()
        flaky.close()


def test_tries_are_bounded_then_left_to_the_queue():
    down = Receiver(statuses=(503,))
    try:
        with pytest.raises(DeliveryFailed):
            deliver(_delivery(down.url), LOOPBACK)
        assert len(down.calls) == LOOPBACK.tries
    finally:
        down.close()


def test_a_receiver_answering_one_byte_every_five_seconds_is_cut_off_at_the_deadline():
    slow = SlowReceiver(interval=5.0)
    policy = OutboundPolicy(allow_loopback=True, attempt_deadline_seconds=1.0, budget_seconds=3.0, tries=3)
    try:
        t0 = time.monotonic()
        with pytest.raises(DeliveryFailed, match="deadline"):
            deliver(_delivery(slow.url), policy)
        elapsed = time.monotonic() - t0
        # The full answer takes 38 bytes x 5 s; per-read timeouts never fire on it.
        assert elapsed < 4.0, elapsed
        # One try only: a receiver that ran out the clock is left to the queue, the worker is not held for three.
        assert len(slow.connections) == 1 and slow.connections[0]["bytes_sent"] <= 1
    finally:
        slow.close()


def test_the_connection_goes_to_the_checked_address_with_the_names_host_and_sni(tmp_path):
    server_tls, client_tls = self_signed_tls("callback.test", tmp_path)
    receiver = Receiver(ssl_context=server_tls)
    lookups = []

    def resolver(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    policy = OutboundPolicy(allow_loopback=True, resolver=resolver, ssl_context=client_tls, tries=1)
    try:
        url = f"https://callback.test:{receiver.port}/hook"
        result = deliver(_delivery(url), policy)
        assert result.status == "delivered", result
        headers, _ = receiver.calls[0]
        assert headers["host"] == f"callback.test:{receiver.port}"
        assert receiver.sni == ["callback.test"]
        assert lookups == ["callback.test"]  # one lookup, checked, then used: no second lookup to swap it
        # A certificate for another name is refused, whatever the address.
        wrong = OutboundPolicy(allow_loopback=True, resolver=lambda h, p: ["127.0.0.1"], ssl_context=client_tls, tries=1)
        assert deliver(_delivery(f"https://other.test:{receiver.port}/hook"), wrong).reason == "tls_certificate"
    finally:
        receiver.close()


def test_a_name_that_resolves_privately_by_delivery_time_is_refused_then():
    answers = iter([["93.184.216.34"], ["10.0.0.7"]])
    policy = OutboundPolicy(resolver=lambda h, p: next(answers))
    check_destination("https://rebind.example/hook", policy)  # at the POST: public
    result = deliver(_delivery("https://rebind.example/hook"), policy)  # at delivery: private
    assert (result.status, result.reason, result.tries) == ("failed", "refused_private", 0)


def test_one_slow_destination_holds_back_only_its_own_deliveries():
    slow = SlowReceiver(interval=5.0)
    fast = Receiver()
    policy = OutboundPolicy(allow_loopback=True, attempt_deadline_seconds=3.0, budget_seconds=3.0, tries=1, per_destination=2)
    outcomes: list[str] = []

    def to_slow():
        try:
            deliver(_delivery(slow.url), policy)
        except DeliveryFailed as exc:
            outcomes.append(type(exc).__name__)

    try:
        held = [threading.Thread(target=to_slow) for _ in range(2)]
        for t in held:
            t.start()
        deadline = time.monotonic() + 2
        while len(slow.connections) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(DestinationBusy):  # a third to the same receiver is deferred at once, not queued behind
            deliver(_delivery(slow.url), policy)
        assert deliver(_delivery(fast.url), policy).status == "delivered"  # others go through meanwhile
        assert len(fast.calls) == 1 and all(c["hung_up"] is None for c in slow.connections)
        for t in held:
            t.join(10)
        assert outcomes == ["DeliveryFailed", "DeliveryFailed"]
    finally:
        slow.close()
        fast.close()


def test_the_documented_receiver_snippet_accepts_a_real_delivery_once_and_refuses_a_replay():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    section = page[page.index("## Verifying callbacks and webhooks"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(snippet, scope)
    body = b'{"status":"accepted"}'
    headers = signed_headers(SECRET, "d-7", int(time.time()), body)
    assert scope["accept"](SECRET, headers, body) and "d-7" in scope["seen"]
    assert not scope["accept"](SECRET, headers, body + b" ")
    assert not scope["accept"](SECRET, signed_headers(SECRET, "d-8", int(time.time()) - 3600, body), body)
