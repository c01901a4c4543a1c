"""Storing signals from the ingest path: set-based, idempotent, corrections kept, languages filled in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from communa.accounts.models import Workspace
from communa.connectors.models import Source
from communa.enrichment.pipeline import dequantise
from communa.enrichment.services import enrich_messages
from communa.enrichment.tables import MessageSignals
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.conftest import T0, raw
from tests.enrichment.conftest import TinyModels

pytestmark = pytest.mark.django_db

FIELDS = ["language", "language_score", "sentiment", "sentiment_scores", "toxicity_score", "toxicity_categories",
          "friendly_profanity_score", "is_toxic", "spam_score", "is_spam", "question_score", "is_question",
          "embedding", "embedding_version", "versions", "explanation"]  # fmt: skip


def ingest(source: Source, *items: Any) -> list[int]:
    return ingest_events(source=source, events=list(items)).message_ids


def stored(message_id: int) -> dict[str, Any]:
    row = MessageSignals.objects.values(*FIELDS).get(pk=message_id)
    row["embedding"] = bytes(row["embedding"]) if row["embedding"] is not None else None
    return row


def test_signals_are_stored_per_message(fake_source: Source, tiny_models: TinyModels) -> None:
    [a, b] = ingest(fake_source, raw("a", text="How do I change my avatar? I love this place"),
                    raw("b", text="you are an idiot", author="bob"))  # fmt: skip

    assert enrich_messages(message_ids=[a, b]) == 2

    first = MessageSignals.objects.get(pk=a)
    assert (first.workspace_id, first.language, first.sentiment, first.is_question, first.is_toxic) == (
        fake_source.workspace_id,
        "en",
        "positive",
        True,
        False,
    )
    assert first.sentiment_scores == {"negative": 0.05, "neutral": 0.15, "positive": 0.8}
    assert first.computed_at is not None
    second = MessageSignals.objects.get(pk=b)
    assert (second.is_toxic, second.toxicity_score) == (True, 0.9)
    assert second.explanation["toxicity"][0] == {"code": "category", "category": "insult", "probability": 0.85}
    vector = dequantise(bytes(first.embedding or b""))
    assert vector.shape == (64,)
    assert abs(float(vector @ vector) - 1.0) < 0.02


def test_running_twice_stores_the_same_rows(fake_source: Source, tiny_models: TinyModels) -> None:
    ids = ingest(fake_source, *[raw(f"m{i}", text=f"Offer number {i}: buy now at http://shop.example/{i}",
                                    author=f"u{i}", minutes=i) for i in range(5)])  # fmt: skip
    enrich_messages(message_ids=ids)
    before = [stored(pk) for pk in ids]

    enrich_messages(message_ids=ids)

    assert [stored(pk) for pk in ids] == before
    assert MessageSignals.objects.count() == 5


def test_one_batch_is_a_few_statements_not_one_per_message(fake_source: Source, tiny_models: TinyModels) -> None:
    ids = ingest(fake_source, *[raw(f"m{i}", text=f"hello number {i}", author=f"u{i % 7}") for i in range(200)])
    with CaptureQueriesContext(connection) as queries:
        enrich_messages(message_ids=ids)
    inserts = [q for q in queries.captured_queries if "enrichment_messagesignals" in q["sql"] and "INSERT" in q["sql"]]
    assert MessageSignals.objects.count() == 200
    assert len(queries.captured_queries) <= 15
    assert len(inserts) <= 1  # executemany of one statement (reported once)


def test_connector_language_kept_detected_language_filled_in(fake_source: Source, tiny_models: TinyModels) -> None:
    [given, missing, unknown] = ingest(
        fake_source,
        raw("a", text="Grazie mille a tutti per l'aiuto", language="es"),
        raw("b", text="Grazie mille a tutti per l'aiuto"),
        raw("c", text="😀😀"),
    )
    enrich_messages(message_ids=[given, missing, unknown])
    languages = dict(Message.objects.values_list("pk", "language"))
    assert (languages[given], languages[missing], languages[unknown]) == ("es", "it", "")
    assert MessageSignals.objects.get(pk=given).language == "it"  # what the text says, beside what the platform said
    assert MessageSignals.objects.get(pk=unknown).language == "und"


def test_workspace_languages_restrict_detection(fake_source: Source, tiny_models: TinyModels) -> None:
    Workspace.objects.filter(pk=fake_source.workspace_id).update(languages=["de", "ru"])
    [pk] = ingest(fake_source, raw("a", text="ciao a tutti!"))
    enrich_messages(message_ids=[pk])
    assert MessageSignals.objects.get(pk=pk).language == "und"


def test_corrections_survive_re_enrichment(fake_source: Source, tiny_models: TinyModels) -> None:
    [pk] = ingest(fake_source, raw("a", text="you are an idiot"))
    enrich_messages(message_ids=[pk])
    MessageSignals.objects.filter(pk=pk).update(is_toxic_corrected=False, is_toxic=False,
                                                sentiment_corrected="positive", sentiment="positive")  # fmt: skip

    enrich_messages(message_ids=[pk])

    signals = MessageSignals.objects.get(pk=pk)
    assert (signals.is_toxic, signals.is_toxic_corrected, signals.toxicity_score) == (False, False, 0.9)
    assert (signals.sentiment, signals.sentiment_corrected) == ("positive", "positive")


def test_near_duplicates_found_across_batches(fake_source: Source, tiny_models: TinyModels) -> None:
    text = "Exclusive crypto signals group, join now and double your savings fast"
    [first] = ingest(fake_source, raw("a", text=text, author="ann"))
    enrich_messages(message_ids=[first])
    [later] = ingest(fake_source, raw("b", text=text, author="ben", minutes=30))

    enrich_messages(message_ids=[later])

    assert {"code": "duplicate_members", "count": 1} in MessageSignals.objects.get(pk=later).explanation["spam"]
    # The window looks back only: re-running the first message gives what it had (it never counts itself).
    enrich_messages(message_ids=[first])
    assert "spam" not in MessageSignals.objects.get(pk=first).explanation


def test_posting_rate_counts_the_previous_hour(fake_source: Source, tiny_models: TinyModels) -> None:
    ids = ingest(fake_source, *[raw(f"m{i}", author="flood", text=f"look at this {i}", minutes=i * 5)
                                for i in range(14)])  # fmt: skip
    enrich_messages(message_ids=ids)
    last = MessageSignals.objects.get(pk=ids[-1])
    # 14 messages five minutes apart: the 12 before the last within the hour (the one 65 minutes back is not).
    assert {"code": "posting_rate", "count": 12} in last.explanation["spam"]


def test_deleted_and_empty_messages_get_a_row_without_model_signals(
    fake_source: Source, tiny_models: TinyModels
) -> None:
    [pk] = ingest(fake_source, raw("a", text="you are an idiot"))
    Message.objects.filter(pk=pk).update(deleted_at=T0 + timedelta(hours=1), text="")
    enrich_messages(message_ids=[pk])
    signals = MessageSignals.objects.get(pk=pk)
    assert (signals.language, signals.is_toxic, signals.embedding, signals.versions) == ("und", None, None, {})


def test_messages_of_two_workspaces_in_one_call_use_each_workspace_heads(
    fake_source: Source, other_workspace: Workspace, tiny_models: TinyModels
) -> None:
    from communa.connectors.services import create_source
    from tests.conftest import FakeConfig

    rival = create_source(workspace=other_workspace, kind="fake", name="Rival room", config=FakeConfig(), actor=None)
    [mine] = ingest(fake_source, raw("a", text="I love it here, thanks everyone"))
    [theirs] = ingest(rival, raw("a", text="I love it here, thanks everyone"))

    enrich_messages(message_ids=[mine, theirs])

    assert dict(MessageSignals.objects.values_list("pk", "workspace_id")) == {
        mine: fake_source.workspace_id,
        theirs: other_workspace.pk,
    }
    asked = {workspace for task, workspace in tiny_models.asked if task == "sentiment"}
    assert asked == {fake_source.workspace_id, other_workspace.pk}


def test_unknown_ids_are_ignored(db: None, tiny_models: TinyModels) -> None:
    assert enrich_messages(message_ids=[123456]) == 0


def test_similar_messages_by_meaning(fake_source: Source, tiny_models: TinyModels) -> None:
    from communa.enrichment.selectors import similar_messages

    ids = ingest(
        fake_source,
        raw("q1", text="how do I reset my password"),
        raw("q2", text="my password: how do I reset"),
        raw("x", text="lovely weather at the meetup"),
        raw("q3", text="how do I export my data"),
    )
    enrich_messages(message_ids=ids)
    q1, q2, _, q3 = ids

    found = similar_messages(workspace_id=fake_source.workspace_id, message_id=q1, limit=2)

    assert [pk for pk, _ in found] == [q2, q3]
    assert found[0][1] == pytest.approx(1.0, abs=0.02)  # the same words: the same tiny embedding
    assert [pk for pk, _ in similar_messages(workspace_id=fake_source.workspace_id, message_id=q1,
                                            questions_only=True)] == [q2, q3]  # fmt: skip
    assert similar_messages(workspace_id=fake_source.workspace_id + 99, message_id=q1) == []
