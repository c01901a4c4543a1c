"""Outbound requests to addresses that a workspace admin typed: keep them out of the server's own networks.

A webhook URL is chosen by a workspace's admin, who is not necessarily the person who runs the server. Without
a guard, `http://169.254.169.254/latest/meta-data/` or `http://127.0.0.1:6379/` would turn Communa into a proxy
into the operator's private network (server-side request forgery): the delivery log even shows the answer.
Like GitLab's "allow requests to the local network from webhooks", loopback, private, link-local, shared,
multicast and reserved addresses are refused unless the operator lists their network in
`COMMUNA_OUTBOUND_ALLOWED_NETWORKS` (docs/configuration.md).

A check of the name alone is not enough: the name could resolve to a public address when the URL is saved and
to 127.0.0.1 when the request is made (DNS rebinding). `pin` resolves once, checks every address, and returns
the URL rewritten to the checked address, with the name kept for the Host header and for TLS (SNI and
certificate verification), so the request goes exactly where the check looked.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx
from django.conf import settings
from django.utils.translation import gettext as _

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedDestinationError(ValueError):
    """The URL points at the server's own networks, or cannot be resolved; the message says which."""


class UnresolvableHostError(BlockedDestinationError):
    """The name has no address (now): nothing can be sent, but nothing private was asked for either."""


@dataclass(frozen=True)
class PinnedURL:
    url: str  # the URL with the host replaced by the checked address
    host: str  # the name, for TLS (SNI and certificate verification)
    host_header: str  # the name with the URL's port, for the Host header


def allowed_networks() -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.COMMUNA_OUTBOUND_ALLOWED_NETWORKS]


def is_public(address: Address) -> bool:
    """True for an address on the public internet; an IPv4-mapped IPv6 address is judged as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_address(address: Address) -> None:
    if is_public(address) or any(address in network for network in allowed_networks()):
        return
    raise BlockedDestinationError(
        _(
            "%(address)s is an address of the server's own or a private network; Communa does not send there "
            "unless the operator allows it (COMMUNA_OUTBOUND_ALLOWED_NETWORKS)."
        )
        % {"address": address}
    )


def resolve(host: str, port: int) -> list[Address]:
    """Every address the name resolves to (an IP literal is its own answer)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = {"host": host, "reason": exc}
        raise UnresolvableHostError(_("%(host)s cannot be resolved: %(reason)s") % reason) from exc
    # getaddrinfo's sockaddr[0] is the address as text; the scope of an IPv6 link-local one is dropped.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in answers))


def pin(url: str) -> PinnedURL:
    """Resolve the URL's host once, refuse it if any address is not allowed, and aim the URL at the first."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in {"http", "https"} or not host:
        raise BlockedDestinationError(_("Only http and https URLs with a host name can be used."))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    for address in addresses:  # all of them: a name with one public and one private answer is refused
        check_address(address)
    first = addresses[0]
    literal = f"[{first}]" if first.version == 6 else str(first)
    userinfo, _at, host_and_port = parts.netloc.rpartition("@")
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return PinnedURL(url=urlunsplit(parts._replace(netloc=netloc)), host=host, host_header=host_and_port)


def check_url(url: str) -> None:
    """For forms and services, when a URL is saved: refuse what `pin` refuses, except a name that does not
    resolve yet (a receiver whose DNS is being set up); every send resolves and checks again."""
    with contextlib.suppress(UnresolvableHostError):
        pin(url)


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses `check_address` allows: the name is resolved here, every answer checked, and
    the socket opened to the checked address. Checking at connect time covers every redirect hop and defeats
    DNS rebinding (httpcore would otherwise resolve the name again); TLS still verifies the name, which
    httpcore takes from the request's origin, not from the address connected to."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        for address in addresses:
            check_address(address)
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport whose connections go through `_CheckedBackend`. A refused address raises
    `BlockedDestinationError` from `Client.send`, before a byte is written. Requests that an operator's
    HTTP(S)_PROXY environment sends through a proxy use httpx's proxy transport instead, not this one: the
    proxy then decides where they may go."""

    def __init__(self, *, verify: ssl.SSLContext) -> None:
        super().__init__(verify=verify)
        # httpx builds its pool without a way to pass a network backend; this is the same pool, with one.
        self._pool = httpcore.ConnectionPool(ssl_context=verify, network_backend=_CheckedBackend())
