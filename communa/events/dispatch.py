"""The event dispatcher: two lanes, each claiming events with a conditional UPDATE and calling its subscribers.

- The **fast lane** runs the subscribers listed in `subscribers.FAST_LANE` (moderation's rules) for events
  flagged `fast_pending` at emit; it claims by clearing that flag.
- The **main lane** runs every other subscriber; it claims by setting `dispatched_at`.

Each lane claims an event and runs its subscribers in one transaction, so a subscriber's writes and the claim
commit together (at least once: a crash before the commit runs them again; subscribers are idempotent). The
lanes are independent: the fast lane never waits for the main lane's subscribers, and neither for the task
queue. In a worker each lane has a thread of its own (`serve`), woken by `wake_local()` right after a
transaction that emitted an event commits in the same process; events emitted elsewhere (the web process) are
dispatched by the `dispatch_events` task and by the lanes' idle poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cache

from django.db import connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from communa.events.models import DomainEvent
from communa.events.subscribers import FAST_LANE, SUBSCRIBERS

logger = logging.getLogger(__name__)
Subscriber = Callable[[DomainEvent], None]
Table = dict[str, list[str]]


@cache
def _subscriber(path: str) -> Subscriber:
    func: Subscriber = import_string(path)
    return func


def has_fast_subscribers(name: str) -> bool:
    """Whether events called `name` wait for the fast lane (decided at emit, from the global table)."""
    return any(path in FAST_LANE for path in SUBSCRIBERS.get(name, ()))


def dispatch_fast(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Run the fast-lane subscribers of the events flagged for it, oldest first; return how many were claimed."""
    table = SUBSCRIBERS if subscribers is None else subscribers
    count = 0
    for event in DomainEvent.objects.filter(fast_pending=True).order_by("id")[:limit]:
        with transaction.atomic():
            if not DomainEvent.objects.filter(pk=event.pk, fast_pending=True).update(fast_pending=False):
                continue  # another dispatcher claimed it
            for path in table.get(event.name, []):
                if path in FAST_LANE:
                    _subscriber(path)(event)
        count += 1
    return count


def dispatch_main(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Run the other subscribers of undispatched events, oldest first; return how many were dispatched."""
    table = SUBSCRIBERS if subscribers is None else subscribers
    count = 0
    for event in DomainEvent.objects.filter(dispatched_at=None).order_by("id")[:limit]:
        with transaction.atomic():
            if not DomainEvent.objects.filter(pk=event.pk, dispatched_at=None).update(dispatched_at=timezone.now()):
                continue  # another dispatcher claimed it
            for path in table.get(event.name, []):
                if path not in FAST_LANE:
                    _subscriber(path)(event)
        count += 1
    return count


def dispatch_pending(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Both lanes, the fast one first (the task path and the scheduler's sweep); return the main lane's count."""
    dispatch_fast(limit=limit, subscribers=subscribers)
    return dispatch_main(limit=limit, subscribers=subscribers)


LANES: dict[str, Callable[..., int]] = {"fast": dispatch_fast, "main": dispatch_main}

# The lanes served by threads of this process: name → the event that wakes its thread.
_local: dict[str, threading.Event] = {}
_local_lock = threading.Lock()


def wake_local() -> bool:
    """Wake this process's dispatcher threads; False when there are none (the caller enqueues the task)."""
    with _local_lock:
        for wake in _local.values():
            wake.set()
        return bool(_local)


def serve(lane: str, stop: threading.Event, *, idle: float = 1.0, limit: int = 500) -> None:
    """Dispatch `lane` on this thread until `stop`: at once when woken, otherwise every `idle` seconds."""
    wake = threading.Event()
    with _local_lock:
        _local[lane] = wake
    dispatch = LANES[lane]
    try:
        while not stop.is_set():
            wake.clear()  # before reading: an event committed while we dispatch wakes us again
            done = 0
            try:
                # The thread keeps its connection: on SQLite (CONN_MAX_AGE=0) close_old_connections() would
                # reconnect, with a cold page cache, on every wake-up. A failure drops it; the next loop reopens.
                done = dispatch(limit=limit)
            except Exception:
                logger.exception("event dispatch (%s lane) failed; trying again in %ss", lane, idle)
                connections.close_all()
                stop.wait(idle)
            if done < limit:
                wake.wait(idle)
    finally:
        with _local_lock:
            _local.pop(lane, None)
        connections.close_all()  # this thread's connections only
