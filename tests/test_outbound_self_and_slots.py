"""The service's own API is found by address, not by spelling; device callbacks and review webhooks to one host:port
have separate in-flight slots."""

from dataclasses import replace

import pytest

from functions.runtime.outbound import Delivery, DestinationBusy, OutboundPolicy, UnsafeDestination, _slots, check_destination, deliver
from functions.runtime.webhooks import signed_headers
from tests.helpers.receivers import Receiver

HOSTS = {"localhost": ["127.0.0.1", "::1"], "bioauth.internal": ["127.0.0.1"], "127.1": ["127.0.0.1"],
         "127.0.0.1": ["127.0.0.1"], "example.test": ["127.0.0.1"]}
LOCAL = OutboundPolicy(allow_loopback=True, blocked=frozenset({"127.0.0.1:7071"}), own=("127.0.0.1", 7071),
                       resolver=lambda host, port: HOSTS[host])


@pytest.mark.parametrize("url", ["http://localhost:7071/api/v1/subjects/alice", "http://127.1:7071/api/health",
                                 "http://bioauth.internal:7071/api/v1/keys",  # a name from /etc/hosts
                                 "http://[::1]:7071/api/health"])
def test_every_spelling_of_the_services_own_address_is_refused(url):
    policy = replace(LOCAL, resolver=lambda host, port: HOSTS.get(host, [host]))
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url, policy)
    assert refused.value.details["reason"] == "self"


def test_another_port_on_loopback_is_still_a_development_receiver():
    assert check_destination("http://localhost:8080/hook", LOCAL).port == 8080


def test_a_public_service_refuses_a_name_that_resolves_to_its_own_address():
    policy = OutboundPolicy(own=("bioauth.example", 443), resolver=lambda host, port: ["93.184.216.34"])
    with pytest.raises(UnsafeDestination):
        check_destination("https://alias.example/api/v1/subjects/alice", policy)


def test_busy_device_callbacks_leave_the_review_webhook_its_own_slots():
    receiver = Receiver()
    policy = OutboundPolicy(allow_loopback=True, attempt_deadline_seconds=1.0, budget_seconds=2.0, per_destination=1)
    key = f"127.0.0.1:{receiver.url.split(':')[2].split('/')[0]}"
    sign = lambda d, ts, b: signed_headers(b"k", d, ts, b)  # noqa: E731
    assert _slots.take(f"callback|{key}", 1, wait_seconds=0)  # a slow device receiver on the webhook's host:port
    try:
        with pytest.raises(DestinationBusy):
            deliver(Delivery(receiver.url, b"{}", "c-1", sign), policy)
        result = deliver(Delivery(receiver.url, b"{}", "w-1", sign, kind="webhook"), policy)
        assert result.status == "delivered" and len(receiver.calls) == 1
    finally:
        _slots.give_back(f"callback|{key}")
        receiver.close()
