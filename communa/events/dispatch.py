"""The event dispatcher: two lanes, each claiming events with a conditional UPDATE and calling its subscribers.

- The **fast lane** runs the subscribers listed in `subscribers.FAST_LANE` (moderation's rules) for events
  flagged `fast_pending` at emit; it claims by clearing that flag.
- The **main lane** runs every other subscriber; it claims by setting `dispatched_at`, once the fast lane has
  claimed the event (an event still `fast_pending` is left for later). So the two lanes never wait for each
  other's row lock: the main lane only ever updates rows the fast lane is done with, and the fast lane's claim
  never queues behind a main-lane transaction (inbox triage, rollups) holding the same row. What a fast-lane
  subscriber did is committed before the main lane's subscribers of the same event run.

Each lane claims an event and runs its subscribers in one transaction, so a subscriber's writes and the claim
commit together (at least once: a crash before the commit runs them again; subscribers are idempotent). The
lanes are independent: the fast lane never waits for the main lane's subscribers, and neither for the task
queue. In a worker each lane has a thread of its own (`serve`), woken by `wake_local()` right after a
transaction that emitted an event commits in the worker (in either of its two processes: the live one serves the
fast lane, the background one the main lane, linked by events/wakeup.py); events emitted elsewhere (the web
process) are dispatched by the `dispatch_events` task and by the lanes' idle poll.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from functools import cache

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from communa.events import wakeup
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


MAX_ATTEMPTS = 5  # failed tries of one event on one lane before it is given up (a dead letter)


def dispatch_fast(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Run the fast-lane subscribers of the events flagged for it, oldest first; return how many were claimed."""
    table = SUBSCRIBERS if subscribers is None else subscribers
    count = 0
    for event in DomainEvent.objects.filter(fast_pending=True).order_by("id")[:limit]:
        try:
            with transaction.atomic():
                if not DomainEvent.objects.filter(pk=event.pk, fast_pending=True).update(fast_pending=False):
                    continue  # another dispatcher claimed it
                for path in table.get(event.name, []):
                    if path in FAST_LANE:
                        _subscriber(path)(event)
        except Exception as exc:
            _failed(event, "fast", exc)
            raise
        count += 1
    return count


def dispatch_main(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Run the other subscribers of undispatched events, oldest first; return how many were dispatched."""
    table = SUBSCRIBERS if subscribers is None else subscribers
    count = 0
    for event in DomainEvent.objects.filter(dispatched_at=None, fast_pending=False).order_by("id")[:limit]:
        try:
            with transaction.atomic():
                claim = DomainEvent.objects.filter(pk=event.pk, dispatched_at=None, fast_pending=False)
                if not claim.update(dispatched_at=timezone.now()):
                    continue  # another dispatcher claimed it
                for path in table.get(event.name, []):
                    if path not in FAST_LANE:
                        _subscriber(path)(event)
        except Exception as exc:
            _failed(event, "main", exc)
            raise
        count += 1
    return count


def _failed(event: DomainEvent, lane: str, exc: Exception) -> None:
    """Count a failed try (the claim was rolled back with the subscribers' writes). The lane retries the event
    first, in order, up to MAX_ATTEMPTS times in all; then it is a dead letter: marked done on this lane with
    `dead_lanes` naming it and the error kept, so the lane goes on (`communa events --dead` lists them,
    `--retry` runs them again once the cause is fixed)."""
    error = f"{lane} lane: {type(exc).__name__}: {exc}"[:4000]
    try:
        DomainEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1, last_error=error)
        attempts, dead_lanes = DomainEvent.objects.values_list("attempts", "dead_lanes").get(pk=event.pk)
        if attempts < MAX_ATTEMPTS:
            return
        done: dict[str, object] = {"fast_pending": False} if lane == "fast" else {"dispatched_at": timezone.now()}
        pending: dict[str, object] = {"fast_pending": True} if lane == "fast" else {"dispatched_at": None}
        dead = " ".join(filter(None, [dead_lanes, lane]))
        # attempts starts afresh for the other lane: the two lanes fail independently.
        if DomainEvent.objects.filter(pk=event.pk, **pending).update(dead_lanes=dead, attempts=0, **done):
            logger.error(
                "event %s (%s) given up on the %s lane after %s tries: %s", event.pk, event.name, lane, attempts, error
            )
    except Exception:
        logger.exception("could not record the failure of event %s", event.pk)


def retry_dead(event_ids: list[int] | None = None) -> int:
    """Put dead letters back on their lanes (all of them, or these ids); return how many."""
    query = DomainEvent.objects.exclude(dead_lanes="")
    if event_ids is not None:
        query = query.filter(pk__in=event_ids)
    count = 0
    for event in query:
        fields: dict[str, object] = {"dead_lanes": "", "attempts": 0, "last_error": ""}
        if "fast" in event.dead_lanes.split():
            fields["fast_pending"] = True
        if "main" in event.dead_lanes.split():
            fields["dispatched_at"] = None
        count += DomainEvent.objects.filter(pk=event.pk, dead_lanes=event.dead_lanes).update(**fields)
    if count:
        wake_local()
    return count


def dispatch_pending(*, limit: int = 500, subscribers: Table | None = None) -> int:
    """Both lanes, the fast one first (the task path and the scheduler's sweep); return the main lane's count."""
    dispatch_fast(limit=limit, subscribers=subscribers)
    return dispatch_main(limit=limit, subscribers=subscribers)


LANES: dict[str, Callable[..., int]] = {"fast": dispatch_fast, "main": dispatch_main}

# The lanes served by threads of this process: name → the event that wakes its thread.
_local: dict[str, threading.Event] = {}
_local_lock = threading.Lock()


def wake_local(lane: str | None = None) -> bool:
    """Wake the worker's dispatcher threads (or only `lane`'s): this process's, and the other process's of a
    worker run as two (events/wakeup.py). False when there are none (the caller enqueues the task)."""
    here = wake_here(lane)
    return wakeup.tell(lane) or here


def wake_here(lane: str | None = None) -> bool:
    """Wake this process's dispatcher threads (or only `lane`'s); False when there are none."""
    with _local_lock:
        for name, wake in _local.items():
            if lane is None or name == lane:
                wake.set()
        return bool(_local)


# The interpreter's thread switch interval in a process that serves the fast lane. The default (5 ms) is how long a
# thread waiting for the GIL may wait behind a CPU-bound one (enrichment's encoder in a task thread): the lane, the
# listener and the delivery threads wait for it after every database answer, so a decision of some thirty queries
# could wait a tenth of a second for the GIL alone. 1 ms costs the CPU-bound threads a few per cent.
FAST_LANE_SWITCH_INTERVAL = 0.001


def serve(lane: str, stop: threading.Event, *, idle: float = 1.0, limit: int = 500) -> None:
    """Dispatch `lane` on this thread until `stop`: at once when woken, otherwise every `idle` seconds."""
    if lane == "fast" and sys.getswitchinterval() > FAST_LANE_SWITCH_INTERVAL:
        sys.setswitchinterval(FAST_LANE_SWITCH_INTERVAL)
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
                if done and lane == "fast":
                    wake_local("main")  # the events it claimed are now the main lane's
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
