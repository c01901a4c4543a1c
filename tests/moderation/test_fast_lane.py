"""The removal path in a worker: the fast event lane runs the rules as soon as ingest commits, and the removal
is delivered on moderation's delivery threads, without the task queue and without the main lane."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connections

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.events.dispatch import serve, wake_local
from communa.events.models import DomainEvent
from communa.ingest.services import ingest_events
from communa.moderation.models import Decision
from communa.outbox.models import OutboxItem
from tests.conftest import raw
from tests.moderation.conftest import enable


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_fast_lane_removes_a_message_while_the_main_lane_is_stopped(
    workspace: Workspace, manager: User, fake_source: Source, settings: object
) -> None:
    enable(workspace, manager)
    stop = threading.Event()
    lane = threading.Thread(target=serve, args=("fast", stop), kwargs={"idle": 30.0})
    lane.start()
    try:
        assert wait_for(wake_local)  # the lane is registered: commits wake it (the 30 s idle poll never fires)
        ingest_events(source=fake_source, events=[raw("m1", author="troll", text="sei proprio un idiota")])

        assert wait_for(lambda: OutboxItem.objects.filter(kind="moderate", state="sent").exists())
    finally:
        stop.set()
        wake_local()
        lane.join(5)
    assert not lane.is_alive()
    assert Decision.objects.get().verdict == "remove"
    event = DomainEvent.objects.get(name="messages.ingested")
    assert (event.fast_pending, event.dispatched_at) == (False, None)  # the main lane has not run
    connections.close_all()
