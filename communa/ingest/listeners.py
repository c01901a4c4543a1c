"""Listeners: long-lived loops that follow streaming sources (Matrix /sync, IRC, IMAP IDLE).

A streaming connector's `fetch(cursor)` blocks until something happens (or its long-poll times out), so a
listener is simply `poll_source` in a loop, on a thread of a worker. Exactly one listener follows a
source at a time, across every worker on every machine: the worker must hold the source's lease, taken
and renewed with a conditional UPDATE. A worker that dies stops renewing; its lease expires and the
supervisor of another worker takes the source over, resuming from the committed cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from communa.connectors.base import Capability
from communa.connectors.models import Source, SourceStatus
from communa.connectors.registry import CONNECTORS, connector_class
from communa.ingest.polling import poll_source

logger = logging.getLogger(__name__)

LISTENING = [SourceStatus.ACTIVE, SourceStatus.RETRYING]
RENEW_FRACTION = 1 / 6  # a listener renews its lease every sixth of the lease (15 s of the default 90 s)


def streaming_kinds() -> list[str]:
    return [kind for kind in CONNECTORS if Capability.STREAM in connector_class(kind).capabilities]


def lease_seconds() -> int:
    """COMMUNA_LISTENER_LEASE_SECONDS: longer than any long-poll, so a healthy listener always renews in time."""
    seconds: int = settings.COMMUNA_LISTENER_LEASE_SECONDS
    return seconds


def acquire_lease(*, source_id: int, owner: str, seconds: int | None = None) -> bool:
    """Take or renew the lease for `seconds` (default: lease_seconds()): when free, expired, or already ours."""
    now = timezone.now()
    free = Q(lease_expires_at=None) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
    expires = now + timedelta(seconds=lease_seconds() if seconds is None else seconds)
    taken = Source.objects.filter(free, pk=source_id, status__in=LISTENING).update(
        lease_owner=owner, lease_expires_at=expires
    )
    return taken == 1


def release_lease(*, source_id: int, owner: str) -> None:
    Source.objects.filter(pk=source_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def release_leases(*, owner: str) -> int:
    """Give up every source `owner` follows, so that other workers take them over now, not at expiry."""
    return Source.objects.filter(lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def claimable_sources(*, owner: str) -> list[int]:
    now = timezone.now()
    return list(
        Source.objects.filter(status__in=LISTENING, kind__in=streaming_kinds())
        .filter(Q(lease_expires_at=None) | Q(lease_expires_at__lt=now))
        .exclude(lease_owner=owner)
        .values_list("pk", flat=True)
    )


def listen(*, source_id: int, owner: str, stop: threading.Event) -> None:
    """Follow one source until told to stop, the lease is lost, or the source is paused or disabled.

    The lease is renewed every RENEW_FRACTION of its length rather than on every iteration (each renewal is a
    commit, and a busy stream iterates several times a second), and at once after a poll that did not succeed
    (the source may have been paused, disabled or may be failing: the renewal is what notices)."""
    renewed = float("-inf")
    polled = True
    try:
        while not stop.is_set():
            if not polled or time.monotonic() - renewed >= lease_seconds() * RENEW_FRACTION:
                if not acquire_lease(source_id=source_id, owner=owner):
                    break
                renewed = time.monotonic()
            wait = _seconds_until_due(source_id)
            if wait > 0:
                polled = False
                stop.wait(min(wait, lease_seconds() / 3))  # backing off after a failure; keep renewing
                continue
            try:
                polled = poll_source(source_id=source_id) is not None
            except Exception:
                # poll_source records platform errors on the source; this is a bug or a lost database.
                polled = False
                logger.exception("listener for source %s failed; backing off", source_id)
                connections.close_all()  # this thread's: the next iteration reconnects
                stop.wait(10)
            # The thread keeps its connection between iterations (as the event lanes do): on SQLite
            # (CONN_MAX_AGE=0) close_old_connections() would reconnect, with a cold page cache, every time.
    finally:
        release_lease(source_id=source_id, owner=owner)
        logger.info("listener %s stopped following source %s", owner, source_id)
        connections.close_all()  # this thread's connections only: they are thread-local


def _seconds_until_due(source_id: int) -> float:
    due = Source.objects.filter(pk=source_id).values_list("next_poll_at", flat=True).first()
    if due is None:
        return 0.0
    return max(0.0, (due - timezone.now()).total_seconds())


class ListenerSupervisor:
    """Starts a listener thread for each streaming source this worker can lease, up to `limit`."""

    def __init__(self, *, owner: str, stop: threading.Event, limit: int = 50) -> None:
        self.owner = owner
        self.stop = stop
        self.limit = limit
        self.threads: dict[int, threading.Thread] = {}

    def tick(self) -> list[int]:
        """Start listeners for newly claimable sources; return the ids started."""
        self.threads = {pk: t for pk, t in self.threads.items() if t.is_alive()}
        started: list[int] = []
        for source_id in claimable_sources(owner=self.owner):
            if len(self.threads) >= self.limit:
                break
            if source_id in self.threads or not acquire_lease(source_id=source_id, owner=self.owner):
                continue
            thread = threading.Thread(
                target=listen,
                kwargs={"source_id": source_id, "owner": self.owner, "stop": self.stop},
                name=f"listener-{source_id}",
                daemon=True,
            )
            thread.start()
            logger.info("listener %s follows source %s", self.owner, source_id)
            self.threads[source_id] = thread
            started.append(source_id)
        return started

    def join(self, timeout: float = 5.0) -> None:
        """Wait up to `timeout` seconds in all for the listener threads to end."""
        deadline = time.monotonic() + timeout
        for thread in self.threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def shutdown(self, timeout: float = 2.0) -> None:
        """Once `stop` is set: let listeners end their iteration for up to `timeout` s, then release every
        lease this worker still holds. A listener in a long-poll is not waited for: its process is exiting, and
        the worker that takes the source over resumes from the committed cursor."""
        self.join(timeout)
        released = release_leases(owner=self.owner)
        if released:
            logger.info("listener %s released %s source(s) on shutdown", self.owner, released)
