"""Waking the event lanes of the worker's other process.

`communa worker` runs as two processes (server/worker.py): the *live* one (listeners, the fast lane, the
removals' delivery threads) and the *background* one (the main lane, the task threads: enrichment, rollups,
inbox triage). A commit that emitted an event wakes its own process's lane threads directly
(`dispatch.wake_local`) and, through this link, the other process's: an event ingested by the live process is the
background main lane's once the fast lane has taken it, and a batch enriched in the background is the live fast
lane's (the rules that read signals).

The link is a Unix datagram socket pair the parent creates before it starts the child: one datagram per wake-up,
naming the lane ("*" for every lane). Sending never blocks: when the other process has not read the previous
wake-ups yet, another one adds nothing, and a lost one costs at most the lane's idle poll (a second).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

WAKE_FD_ENV = "COMMUNA_WAKE_FD"  # the child's end of the pair, inherited by the background process
ALL = "*"

_peers: list[socket.socket] = []  # this process's ends of its links, each read by a thread of its own
_lock = threading.Lock()


def pair() -> tuple[socket.socket, socket.socket]:
    """A linked pair of sockets: the parent keeps the first and passes the second's descriptor to its child."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.set_inheritable(True)
    return ours, theirs


def link(sock: socket.socket, on_wake: Callable[[str | None], object]) -> threading.Thread:
    """Send this process's wake-ups through `sock` and call `on_wake(lane)` (None: every lane) for the other
    side's, on a daemon thread that lives as long as the process."""
    sock.setblocking(True)  # for the reading thread; sending never blocks (MSG_DONTWAIT)
    with _lock:
        _peers.append(sock)
    thread = threading.Thread(target=_read, args=(sock, on_wake), name="events-wakeup", daemon=True)
    thread.start()
    return thread


def link_inherited(on_wake: Callable[[str | None], object]) -> bool:
    """In the background process: link the socket the parent passed down (WAKE_FD_ENV); False when there is none
    (a worker started on its own polls instead)."""
    descriptor = os.environ.get(WAKE_FD_ENV, "")
    if not descriptor.isdigit():
        return False
    link(socket.socket(fileno=int(descriptor)), on_wake)
    return True


def tell(lane: str | None) -> bool:
    """Wake `lane` (None: every lane) in the linked process; False when there is none."""
    with _lock:
        peers = list(_peers)
    for peer in peers:
        try:
            peer.send((lane or ALL).encode(), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            pass  # the other side has wake-ups to read already: it will look at the events anyway
        except OSError as exc:  # the other process is gone; the worker's supervision deals with that
            logger.debug("could not wake the other worker process: %s", exc)
    return bool(peers)


def unlink_all() -> None:
    """Forget the links and end their reading threads (tests)."""
    with _lock:
        sockets = list(_peers)
        _peers.clear()
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # a blocked recv() returns
        sock.close()


def _read(sock: socket.socket, on_wake: Callable[[str | None], object]) -> None:
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            return  # closed
        if not data:
            return
        lane = data.decode(errors="replace")
        on_wake(None if lane == ALL else lane)
