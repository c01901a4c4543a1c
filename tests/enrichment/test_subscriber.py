"""End to end: ingest → messages.ingested → dispatcher → enrichment task → signals, on the configured task
backend (the database backend on SQLite, RQ on Redis when COMMUNA_REDIS_URL is set)."""

from __future__ import annotations

from typing import Any

import pytest

from communa.connectors.base import FetchResult
from communa.connectors.models import Source
from communa.enrichment.tables import MessageSignals
from communa.events.models import DomainEvent
from communa.ingest.services import ingest_events
from communa.ingest.tasks import schedule_due_polls
from communa.stream.models import Message
from tests.conftest import FakeConnector, raw
from tests.enrichment.conftest import TinyModels
from tests.test_worker import run_queued_tasks

transactional = pytest.mark.django_db(transaction=True)


@pytest.fixture
def empty_queues() -> None:
    from communa.server.worker import uses_redis

    if uses_redis():
        import django_rq

        django_rq.get_connection("default").flushdb()


@transactional
def test_ingested_messages_get_their_signals(fake_source: Source, tiny_models: TinyModels, empty_queues: None) -> None:
    FakeConnector.pages = [
        FetchResult(
            items=[
                raw("a", text="How do I export my data? I love the new version"),
                raw("b", text="you are an idiot", author="troll"),
            ],
            cursor={"n": 1},
        )
    ]
    assert schedule_due_polls() == 1

    run_queued_tasks()  # the poll, the event dispatch, then the enrichment it enqueued

    signals = {m.external_id: m.signals for m in Message.objects.select_related("signals")}
    assert (signals["a"].language, signals["a"].sentiment, signals["a"].is_question) == ("en", "positive", True)
    assert (signals["b"].is_toxic, signals["b"].toxicity_score) == (True, 0.9)
    assert Message.objects.get(external_id="a").language == "en"
    assert DomainEvent.objects.filter(name="messages.ingested", dispatched_at=None).count() == 0


@transactional
def test_a_broken_model_never_breaks_ingest_or_the_event_stream(
    fake_source: Source, tiny_models: TinyModels, empty_queues: None
) -> None:
    def broken() -> None:
        raise RuntimeError("the encoder crashed")

    tiny_models.encoder.encode = broken  # type: ignore[assignment,method-assign]
    result = ingest_events(source=fake_source, events=[raw("a", text="hello there everyone")])
    assert result.messages == 1

    run_queued_tasks()

    assert Message.objects.count() == 1
    assert DomainEvent.objects.filter(dispatched_at=None).count() == 0  # dispatched: enrichment only enqueues
    assert MessageSignals.objects.count() == 0  # the failed task left nothing half-written


@transactional
def test_enrichment_can_be_switched_off(
    fake_source: Source, tiny_models: TinyModels, empty_queues: None, settings: Any
) -> None:
    settings.ENRICHMENT = {**settings.ENRICHMENT, "ENABLED": False}
    ingest_events(source=fake_source, events=[raw("a", text="hello there everyone")])
    run_queued_tasks()
    assert MessageSignals.objects.count() == 0
    assert tiny_models.encoder.calls == []
