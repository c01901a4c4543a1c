"""The HTTP protocol `communa run` serves with: uvicorn's, with Nagle's algorithm off on every connection.

asyncio turns TCP_NODELAY on only for sockets whose `proto` is IPPROTO_TCP. uvicorn's own listening socket
(the one it binds for `--workers` > 1 and shares with its processes) is created with proto 0, so its
connections kept Nagle on: a response written as headers then body waited for the client's delayed ACK,
~40 ms on every request (measured: one user's list poll 88 → 23 ms, docs/benchmarks.md "Inbox").
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
