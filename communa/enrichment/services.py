"""Writes for enrichment: store the signals of a batch of messages, and record a person's correction.

`enrich_messages` is what the `messages.ingested` subscriber's task calls. It works set-based: one upsert
statement for the batch's signals and one for the languages it filled in, inside one transaction, and it is
idempotent (running it twice stores the same rows). Corrections are never overwritten by it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.services import record
from communa.core.bulk import chunked, table, upsert
from communa.enrichment.pipeline import Item, RecentMessages, Signals, analyse, dequantise
from communa.enrichment.selectors import (
    RECENT_WINDOW,
    MessageRow,
    messages_to_enrich,
    posts_in_previous_hour,
    recent_embeddings,
)
from communa.enrichment.tables import CORRECTION_LABELS, MessageSignals, SignalLabel, Task
from communa.events.services import emit
from communa.stream.models import Message

logger = logging.getLogger(__name__)

BATCH = 256

SIGNAL_COLUMNS = [
    "message", "workspace", "language", "language_score", "sentiment", "sentiment_scores", "toxicity_score",
    "toxicity_categories", "friendly_profanity_score", "is_toxic", "spam_score", "is_spam", "question_score",
    "is_question", "embedding", "embedding_version", "versions", "explanation", "computed_at",
    "sentiment_corrected", "is_toxic_corrected", "is_spam_corrected", "is_question_corrected",
]  # fmt: skip
# What a re-run replaces; the *_corrected columns are a person's and stay. The shown flag is the correction
# when there is one.
SIGNAL_UPDATES = [c for c in SIGNAL_COLUMNS[2:19] if c not in {"sentiment", "is_toxic", "is_spam", "is_question"}]
KEEP_CORRECTIONS = {
    "sentiment": "CASE WHEN {table}.sentiment_corrected <> '' THEN {table}.sentiment_corrected"
    " ELSE excluded.sentiment END",
    "is_toxic": "COALESCE({table}.is_toxic_corrected, excluded.is_toxic)",
    "is_spam": "COALESCE({table}.is_spam_corrected, excluded.is_spam)",
    "is_question": "COALESCE({table}.is_question_corrected, excluded.is_question)",
}


def enrich_messages(*, message_ids: Sequence[int]) -> int:
    """Compute and store the signals of `message_ids`, `BATCH` at a time; return how many were stored."""
    stored = 0
    for chunk in chunked(sorted(set(message_ids)), BATCH):
        rows = messages_to_enrich(message_ids=chunk)
        by_workspace: dict[int, list[MessageRow]] = defaultdict(list)
        for row in rows:
            by_workspace[row.workspace_id].append(row)
        for workspace_id, workspace_rows in by_workspace.items():
            stored += _enrich_workspace_batch(workspace_id, workspace_rows)
    return stored


def _enrich_workspace_batch(workspace_id: int, rows: list[MessageRow]) -> int:
    languages = Workspace.objects.filter(pk=workspace_id).values_list("languages", flat=True).first() or []
    rates = posts_in_previous_hour(workspace_id=workspace_id, rows=rows)
    items = [
        Item(
            text=row.text,
            author=row.member_id,
            created_at=row.created_at,
            posts_last_hour=rates.get(row.id, 0),
            author_first_seen=row.member_first_seen,
            account_created_at=row.account_created_at,
        )
        for row in rows
    ]

    def recent(version: str) -> RecentMessages:
        since = min(row.created_at for row in rows) - RECENT_WINDOW
        until = max(row.created_at for row in rows)
        found = recent_embeddings(
            workspace_id=workspace_id, version=version, since=since, until=until, exclude=[row.id for row in rows]
        )
        matrix = found.embeddings
        embeddings = dequantise(matrix.tobytes()).reshape(matrix.shape) if found.authors else matrix
        return RecentMessages(embeddings=embeddings.astype("float32"), authors=list(found.authors), texts=found.texts)

    signals = analyse(items, workspace_id=workspace_id, languages=[str(code) for code in languages], recent=recent)
    with transaction.atomic():
        _store(rows, signals, now=timezone.now())
        _fill_languages(rows, signals)
        # Moderation rules and inbox triage read the signals, so they hang off this event, not off ingest.
        emit(workspace_id=workspace_id, name="messages.enriched", data={"message_ids": [row.id for row in rows]})
    return len(rows)


def _store(rows: Sequence[MessageRow], signals: Sequence[Signals], *, now: datetime) -> None:
    upsert(
        MessageSignals,
        columns=SIGNAL_COLUMNS,
        rows=[
            (
                row.id,
                row.workspace_id,
                s.language,
                s.language_score,
                s.sentiment,
                s.sentiment_scores,
                s.toxicity_score,
                s.toxicity_categories,
                s.friendly_profanity_score,
                s.is_toxic,
                s.spam_score,
                s.is_spam,
                s.question_score,
                s.is_question,
                s.embedding,
                s.embedding_version,
                s.versions,
                s.explanation,
                now,
                "",
                None,
                None,
                None,
            )
            for row, s in zip(rows, signals, strict=True)
        ],
        conflict=["message"],
        update=SIGNAL_UPDATES,
        expressions=KEEP_CORRECTIONS,
    )


def _fill_languages(rows: Sequence[MessageRow], signals: Sequence[Signals]) -> None:
    """Give messages whose connector named no language the detected one ("und" is left on the signals)."""
    detected = [
        (s.language, row.id) for row, s in zip(rows, signals, strict=True) if not row.language and len(s.language) == 2
    ]
    if detected:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table(Message)} SET language = %s WHERE id = %s AND language = ''",  # noqa: S608 — table name from model metadata
                detected,
            )


# --- corrections -----------------------------------------------------------------------------------


class InvalidCorrection(ValueError):
    pass


def correct_signal(*, workspace: Workspace, message: Message, task: str, label: str, actor: User) -> SignalLabel:
    """Record a person's correction, show it instead of the model's answer, and audit it.

    The caller has checked the permission (Perm.MODERATE) and that `message` belongs to `workspace`.
    """
    if message.workspace_id != workspace.pk:
        raise InvalidCorrection("the message belongs to another workspace")
    if label not in CORRECTION_LABELS.get(task, ()):
        raise InvalidCorrection(f"{label!r} is not a label of {task!r}")
    with transaction.atomic():
        correction = SignalLabel.objects.create(
            workspace=workspace, message=message, task=task, label=label, created_by=actor
        )
        _apply_correction(workspace=workspace, message=message, task=task, label=label)
        record(
            workspace=workspace,
            actor=actor,
            action="signal.corrected",
            target=message,
            data={"task": task, "label": label},
        )
    return correction


def _apply_correction(*, workspace: Workspace, message: Message, task: str, label: str) -> None:
    """Set the correction and the shown flag; a message not enriched yet gets a row holding just that."""
    column, value = _corrected_value(task, label)
    shown = column.removesuffix("_corrected")
    MessageSignals.objects.update_or_create(
        pk=message.pk, defaults={"workspace": workspace, column: value, shown: value}
    )


def _corrected_value(task: str, label: str) -> tuple[str, str | bool]:
    if task == Task.SENTIMENT:
        return "sentiment_corrected", label
    column = {
        Task.TOXICITY: "is_toxic_corrected",
        Task.SPAM: "is_spam_corrected",
        Task.QUESTION: "is_question_corrected",
    }
    return column[Task(task)], not label.startswith("not_")
