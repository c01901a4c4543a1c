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


BULK_RULES = """\
rules:
  - id: removes
    when:
      words: [forbiddenword]
    actions:
      - remove
  - id: mutes
    when:
      words: [forbiddenword]
    actions:
      - remove
      - mute: 10m
  - id: watching
    mode: log_only
    when:
      words: [forbiddenword]
    actions:
      - ban
"""


def _batch(source: Source, prefix: str, count: int) -> list[int]:
    ingest_events(
        source=source, events=[raw(f"{prefix}{n}", author="troll", text=f"forbiddenword {n}") for n in range(count)]
    )
    event = DomainEvent.objects.filter(name="messages.ingested").order_by("-id").first()
    assert event is not None
    return [int(pk) for pk in event.data["message_ids"]]


@pytest.mark.django_db
def test_a_batch_of_removals_is_recorded_set_based_with_the_same_rows(
    workspace: Workspace, manager: User, fake_source: Source, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from communa.audit.models import AuditEntry
    from communa.moderation import live
    from communa.moderation.models import DecisionAction, Strike

    enable(workspace, manager, text=BULK_RULES)
    live.evaluate_batch(workspace_id=workspace.pk, message_ids=_batch(fake_source, "warm", 1), early=True)
    queries = []
    for prefix, count in (("a", 3), ("b", 9)):
        ids = _batch(fake_source, prefix, count)
        with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
            assert live.evaluate_batch(workspace_id=workspace.pk, message_ids=ids, early=True) == 3 * count
        queries.append(len(ctx.captured_queries))
        # The events' wake-up and deliver_soon with the removals and mutes: no outbox task per item.
        assert len(callbacks) == 2
        assert live.evaluate_batch(workspace_id=workspace.pk, message_ids=ids, early=True) == 0  # each rule once
    assert queries[0] == queries[1]  # per batch, not per message

    for message_id in ids:
        decisions = {d.rule: d for d in Decision.objects.filter(message_id=message_id)}
        assert sorted(decisions) == ["mutes", "removes", "watching"]
        acts = {
            rule: sorted((a.action, a.state) for a in DecisionAction.objects.filter(decision=d))
            for rule, d in decisions.items()
        }
        # One removal and one strike for the message: the second rule only mutes; the log-only rule acts on nothing.
        assert acts == {
            "removes": [("remove", "pending"), ("strike", "done")],
            "mutes": [("mute", "pending")],
            "watching": [("ban", "logged"), ("strike", "logged")],
        }
        assert Strike.objects.filter(decision__message_id=message_id).count() == 1
        mute = DecisionAction.objects.get(decision=decisions["mutes"], action="mute")
        assert mute.params == {"seconds": 600}
        assert mute.expires_at is not None
        item = OutboxItem.objects.get(idempotency_key=mute.outbox_key)
        assert (item.origin, item.state, item.payload["action"]) == (f"moderation.action:{mute.pk}", "pending", "mute")
        assert item.payload["target"]["user_external_id"] == "troll"
        removal = DecisionAction.objects.get(decision=decisions["removes"], action="remove")
        assert removal.outbox_key == f"mod-{removal.pk}-remove"
        assert OutboxItem.objects.get(idempotency_key=removal.outbox_key).payload["target"]["message_external_id"]
    assert AuditEntry.objects.filter(action="moderation.decision").count() == 2 * 13
    assert DomainEvent.objects.filter(name="moderation.action").count() == 2 * 13
