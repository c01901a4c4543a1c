"""The outbox: one attempt per claim, the platform's reason on refusal, unknown outcomes never blindly re-sent."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.core.http import NotSentError, PermanentError, TransientError
from communa.events.models import DomainEvent
from communa.outbox import services
from communa.outbox.models import OutboxItem
from communa.outbox.selectors import items_by_origin, items_needing_a_person, sent_item_for
from tests.conftest import FakeConfig, FakeConnector

pytestmark = pytest.mark.django_db
TARGET = ReplyTarget(channel="!room:example.org", message_external_id="$question")


def reply(workspace: Workspace, source: Source, key: str = "k1", text: str = "Hello!") -> OutboxItem:
    return services.enqueue_reply(
        workspace=workspace, source=source, target=TARGET, text=text, idempotency_key=key, origin="inbox.reply:1"
    )


def events(name: str) -> list[dict[str, Any]]:
    return [e.data for e in DomainEvent.objects.filter(name=name).order_by("id")]


def test_a_reply_is_sent_once_and_told_to_its_origin(workspace: Workspace, fake_source: Source) -> None:
    item = reply(workspace, fake_source)
    assert reply(workspace, fake_source).pk == item.pk  # same key, same item
    assert services.deliver(item_id=item.pk) == "sent"
    assert services.deliver(item_id=item.pk) == "sent"  # a second task for the same item does nothing
    assert FakeConnector.writes == [{"call": "reply", "target": TARGET, "text": "Hello!", "key": "k1"}]
    item.refresh_from_db()
    assert (item.state, item.attempts, item.result_external_id, item.error) == ("sent", 1, "sent-1", "")
    assert item.sent_at is not None
    assert events("outbox.sent") == [
        {
            "item_id": item.pk,
            "origin": "inbox.reply:1",
            "kind": "reply",
            "source_id": fake_source.pk,
            "external_id": "sent-1",
            "error": "",
        }
    ]
    assert sent_item_for(source_id=fake_source.pk, external_id="sent-1") == item
    assert sent_item_for(source_id=fake_source.pk, external_id="other") is None
    assert items_by_origin(workspace=workspace, origins=["inbox.reply:1"]) == {"inbox.reply:1": item}


def test_the_platforms_refusal_is_kept_and_nothing_is_retried(workspace: Workspace, fake_source: Source) -> None:
    FakeConnector.fail_next = [PermanentError("M_FORBIDDEN: you are not allowed to send in this room")]
    item = reply(workspace, fake_source)
    assert services.deliver(item_id=item.pk) == "failed"
    item.refresh_from_db()
    assert item.error == "M_FORBIDDEN: you are not allowed to send in this room"
    services.sweep(now=timezone.now() + timedelta(hours=1))
    assert services.deliver(item_id=item.pk) == "failed"
    assert FakeConnector.writes == []
    assert [e["error"] for e in events("outbox.failed")] == [item.error]
    assert list(items_needing_a_person(workspace=workspace)) == [item]


def test_a_platform_that_is_down_gets_the_reply_once_it_is_back(workspace: Workspace, fake_source: Source) -> None:
    FakeConnector.fail_next = [NotSentError("could not connect"), NotSentError("could not connect")]
    item = reply(workspace, fake_source)
    assert services.deliver(item_id=item.pk) == "pending"
    item.refresh_from_db()
    first_wait = item.not_before - timezone.now()
    assert timedelta(seconds=3) < first_wait <= timedelta(seconds=5)
    assert services.deliver(item_id=item.pk) == "pending"  # not due yet: no call
    assert services.sweep()["started"] == 0
    later = timezone.now() + timedelta(seconds=6)
    OutboxItem.objects.filter(pk=item.pk).update(not_before=timezone.now())
    assert services.deliver(item_id=item.pk) == "pending"  # down again: the wait doubles
    item.refresh_from_db()
    assert timedelta(seconds=8) < item.not_before - timezone.now() <= timedelta(seconds=10)
    OutboxItem.objects.filter(pk=item.pk).update(not_before=timezone.now())
    assert services.sweep(now=later)["started"] == 1
    assert services.deliver(item_id=item.pk) == "sent"
    assert len(FakeConnector.writes) == 1
    assert events("outbox.failed") == []


def test_down_for_a_day_fails_with_the_reason(workspace: Workspace, fake_source: Source) -> None:
    item = reply(workspace, fake_source)
    OutboxItem.objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(hours=25))
    FakeConnector.fail_next = [NotSentError("could not connect to matrix.example.org")]
    assert services.deliver(item_id=item.pk) == "failed"
    item.refresh_from_db()
    assert item.error == "the platform could not be reached for 1 day, 0:00:00: could not connect to matrix.example.org"


def test_an_unknown_outcome_waits_for_a_person_when_the_platform_cannot_deduplicate(
    workspace: Workspace, fake_source: Source
) -> None:
    FakeConnector.fail_next = [TransientError("timed out after 30s talking to irc.example.org")]
    item = reply(workspace, fake_source)
    assert services.deliver(item_id=item.pk) == "unknown"
    assert services.sweep(now=timezone.now() + timedelta(hours=1))["reconciling"] == 0
    assert services.deliver(item_id=item.pk) == "unknown"
    assert FakeConnector.writes == []
    assert [e["error"] for e in events("outbox.unknown")] == [
        "TransientError: timed out after 30s talking to irc.example.org"
    ]
    # The person checks the platform: it is not there, so they send it again (same key).
    assert services.retry(item=item) is True
    assert services.deliver(item_id=item.pk) == "sent"
    assert services.retry(item=item) is False  # only unknown items
    assert len(FakeConnector.writes) == 1


def test_a_person_can_settle_an_unknown_outcome_as_sent(workspace: Workspace, fake_source: Source) -> None:
    FakeConnector.fail_next = [TransientError("HTTP 502 Bad Gateway")]
    item = reply(workspace, fake_source)
    services.deliver(item_id=item.pk)
    assert services.mark_sent(item=item, external_id="$found") is True
    item.refresh_from_db()
    assert (item.state, item.result_external_id) == ("sent", "$found")
    assert FakeConnector.writes == []


class DeduplicatingConnector(FakeConnector):
    kind = "fake-dedup"
    idempotent_writes = True
    reconcile_after = 0.0


@pytest.fixture
def dedup_source(workspace: Workspace, fake_connector: type[FakeConnector], monkeypatch: pytest.MonkeyPatch) -> Source:
    from communa.connectors import registry

    monkeypatch.setitem(registry.CONNECTORS, "fake-dedup", "tests.outbox.test_outbox.DeduplicatingConnector")
    registry.connector_class.cache_clear()
    return create_source(workspace=workspace, kind="fake-dedup", name="Dedup", config=FakeConfig(), actor=None)


def test_an_unknown_outcome_is_settled_by_asking_a_deduplicating_platform_again(
    workspace: Workspace, dedup_source: Source
) -> None:
    FakeConnector.fail_next = [TransientError("timed out")]
    item = reply(workspace, dedup_source)
    assert services.deliver(item_id=item.pk) == "unknown"
    assert services.sweep()["reconciling"] == 1
    assert services.deliver(item_id=item.pk) == "sent"
    item.refresh_from_db()
    assert item.attempts == 2
    assert [w["key"] for w in FakeConnector.writes] == ["k1"]  # the same key: the platform keeps one copy


def test_reconciling_gives_up_to_a_person_after_bounded_attempts(workspace: Workspace, dedup_source: Source) -> None:
    FakeConnector.fail_next = [TransientError("timed out")] * services.MAX_RECONCILE_ATTEMPTS
    item = reply(workspace, dedup_source)
    for _ in range(services.MAX_RECONCILE_ATTEMPTS):
        services.deliver(item_id=item.pk)
        services.sweep()
    item.refresh_from_db()
    assert (item.state, item.attempts) == ("unknown", services.MAX_RECONCILE_ATTEMPTS)
    assert services.sweep()["reconciling"] == 0


def test_a_worker_that_died_mid_call_leaves_an_unknown_outcome(workspace: Workspace, fake_source: Source) -> None:
    item = reply(workspace, fake_source)
    OutboxItem.objects.filter(pk=item.pk).update(state="claimed", claimed_at=timezone.now() - timedelta(minutes=6))
    assert services.sweep()["abandoned"] == 1
    item.refresh_from_db()
    assert (item.state, item.error) == ("unknown", "the worker stopped during the call")


def test_moderation_actions_are_applied_and_repeated_safely(workspace: Workspace, fake_source: Source) -> None:
    target = ModerationTarget(channel="!room", message_external_id="$insult")
    FakeConnector.fail_next = [TransientError("timed out")]
    item = services.enqueue_moderation(
        workspace=workspace,
        source=fake_source,
        action=ModerationAction.REMOVE_MESSAGE,
        target=target,
        reason="rule no-insults",
        idempotency_key="mod-1-remove",
        origin="moderation.action:1",
    )
    assert services.deliver(item_id=item.pk) == "unknown"
    OutboxItem.objects.filter(pk=item.pk).update(not_before=timezone.now())
    assert services.sweep()["reconciling"] == 1  # a removal is a state: applying it again is harmless
    assert services.deliver(item_id=item.pk) == "sent"
    assert FakeConnector.writes == [
        {
            "call": "moderate",
            "action": ModerationAction.REMOVE_MESSAGE,
            "target": target,
            "reason": "rule no-insults",
            "key": "mod-1-remove",
        }
    ]


def test_an_action_the_platform_lacks_fails_with_a_reason(
    workspace: Workspace, fake_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeConnector, "moderation_actions", frozenset({ModerationAction.REMOVE_MESSAGE}))
    item = services.enqueue_moderation(
        workspace=workspace,
        source=fake_source,
        action=ModerationAction.BAN,
        target=ModerationTarget(channel="#c", user_external_id="@troll"),
        idempotency_key="mod-2-ban",
    )
    assert services.deliver(item_id=item.pk) == "failed"
    item.refresh_from_db()
    assert item.error == "Fake cannot ban"


def test_cancel_only_while_waiting(workspace: Workspace, fake_source: Source) -> None:
    item = reply(workspace, fake_source)
    assert services.cancel(item=item) is True
    assert services.deliver(item_id=item.pk) == "cancelled"
    assert services.cancel(item=item) is False
    assert FakeConnector.writes == []


def test_bad_requests_are_refused(workspace: Workspace, other_workspace: Workspace, fake_source: Source) -> None:
    with pytest.raises(ValueError, match="another workspace"):
        reply(other_workspace, fake_source)
    with pytest.raises(ValueError, match="needs text"):
        reply(workspace, fake_source, text="   ")
    with pytest.raises(ValueError, match="idempotency key"):
        reply(workspace, fake_source, key="")
    assert OutboxItem.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_workers_make_one_call(workspace: Workspace, fake_source: Source) -> None:
    item = reply(workspace, fake_source)
    barrier = threading.Barrier(4)
    states: list[str] = []

    def work() -> None:
        barrier.wait()
        try:
            states.append(services.deliver(item_id=item.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(FakeConnector.writes) == 1
    assert states.count("sent") >= 1
