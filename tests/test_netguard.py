"""The outbound guard: webhooks never reach the server's own networks unless the operator allows them."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from django.test import override_settings

from communa.core import netguard
from communa.webhooks.forms import EndpointForm

BLOCKED = [
    "http://127.0.0.1:6379/",
    "http://localhost/",
    "http://10.1.2.3/hook",
    "http://172.16.0.9/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://0.0.0.0:8000/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://224.0.0.1/",  # multicast
]


@pytest.fixture
def no_private_networks() -> Iterator[None]:
    with override_settings(COMMUNA_OUTBOUND_ALLOWED_NETWORKS=[]):
        yield


@pytest.mark.parametrize("url", BLOCKED)
def test_private_and_reserved_addresses_are_refused(url: str, no_private_networks: None) -> None:
    with pytest.raises(netguard.BlockedDestinationError) as caught:
        netguard.pin(url)
    assert "COMMUNA_OUTBOUND_ALLOWED_NETWORKS" in str(caught.value)


def test_public_address_is_pinned_with_the_name_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard, "resolve", lambda host, port: [ipaddress.ip_address("93.184.215.14")])
    pinned = netguard.pin("https://user:pw@hooks.example.org:8443/in?x=1")
    assert pinned.url == "https://user:pw@93.184.215.14:8443/in?x=1"
    assert pinned.host == "hooks.example.org"
    assert pinned.host_header == "hooks.example.org:8443"


def test_a_name_with_one_private_answer_is_refused(monkeypatch: pytest.MonkeyPatch, no_private_networks: None) -> None:
    answers = [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.5")]
    monkeypatch.setattr(netguard, "resolve", lambda host, port: answers)
    with pytest.raises(netguard.BlockedDestinationError):
        netguard.pin("https://rebind.example.org/")


def test_operator_allowed_network_passes() -> None:
    with override_settings(COMMUNA_OUTBOUND_ALLOWED_NETWORKS=["10.0.0.0/8"]):
        assert netguard.pin("http://10.1.2.3:8080/hook").url == "http://10.1.2.3:8080/hook"
        with pytest.raises(netguard.BlockedDestinationError):
            netguard.pin("http://192.168.1.1/hook")


def test_other_schemes_are_refused() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "http:///nohost"):
        with pytest.raises(netguard.BlockedDestinationError):
            netguard.pin(url)


def test_unresolvable_name_is_accepted_when_saved_but_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    netguard.check_url("https://not-yet.example/in")  # saved: the DNS may be on its way
    with pytest.raises(netguard.UnresolvableHostError):
        netguard.pin("https://not-yet.example/in")


def test_form_explains_the_refusal(no_private_networks: None) -> None:
    form = EndpointForm(data={"name": "x", "url": "http://169.254.169.254/latest", "events": ["sla.breached"]})
    assert not form.is_valid()
    assert "169.254.169.254" in form.errors["url"][0]
