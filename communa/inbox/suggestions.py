"""Suggested answers for a conversation: how the same question was answered before, and which saved replies fit.

Both rank by meaning, with the sentence embeddings enrichment stores for every message (MessageSignals):

* **Answered questions**: the workspace's past questions closest to the conversation's question
  (enrichment.selectors.similar_messages, questions only), outside this conversation's thread, that got an
  answer: the answer triage recorded (ConversationMessage.answer_message, staff or another member), else
  the first reply to the question by someone else (a staff reply wins over a member's). Shown with the
  answer text, who gave it and the similarity.
* **Saved replies** (the knowledge base): each saved reply's text in the conversation's language (its
  variant, else its own text) with its title, embedded by the same encoder (cached per version of the
  reply), ranked by similarity to the question.

Nothing here writes; every query is scoped to the conversation's workspace.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Q
from numpy.typing import NDArray

from communa.enrichment.backends import models_backend
from communa.enrichment.pipeline import dequantise
from communa.enrichment.selectors import similar_messages
from communa.enrichment.tables import MessageSignals
from communa.inbox.models import Conversation, ConversationMessage, SavedReply
from communa.stream.models import Message

MIN_QUESTION_SIMILARITY = 0.5  # cosine: below this, "similar" questions are about something else
MIN_SAVED_REPLY_SIMILARITY = 0.3  # a question and an answer are further apart than two questions
CANDIDATES = 30  # similar questions looked at; those without an answer are skipped
SAVED_REPLIES_SCANNED = 500
EMBEDDING_CACHE_SECONDS = 7 * 24 * 3600


@dataclasses.dataclass(frozen=True, slots=True)
class AnsweredQuestion:
    question_id: int
    question: str
    asked_at: datetime
    answer_id: int
    answer: str
    answered_by: str  # "staff" | "member"
    answerer: str  # the answering member's name
    conversation_id: int | None  # the past conversation, when the inbox had one
    similarity: float


@dataclasses.dataclass(frozen=True, slots=True)
class SuggestedSavedReply:
    saved_reply_id: int
    title: str
    shortcut: str
    text: str  # in the conversation's language when the reply has that variant (variables not filled in)
    language: str
    similarity: float


@dataclasses.dataclass(frozen=True, slots=True)
class Suggestions:
    question_id: int | None  # the message the suggestions answer
    answered: list[AnsweredQuestion]
    saved_replies: list[SuggestedSavedReply]


def question_of(conversation: Conversation) -> int | None:
    """The message to answer: the newest member question of the conversation, else its newest member message."""
    newest_question = (
        ConversationMessage.objects.filter(
            workspace_id=conversation.workspace_id, conversation=conversation, is_question=True
        )
        .exclude(role=ConversationMessage.Role.STAFF)
        .order_by("-created_at", "-id")
        .values_list("message_id", flat=True)
        .first()
    )
    return newest_question or conversation.last_member_message_id or conversation.first_message_id


def suggest(*, conversation: Conversation, limit: int = 3) -> Suggestions:
    message_id = question_of(conversation)
    if message_id is None:
        return Suggestions(None, [], [])
    return Suggestions(
        question_id=message_id,
        answered=answered_questions(conversation=conversation, message_id=message_id, limit=limit),
        saved_replies=saved_replies_for(conversation=conversation, message_id=message_id, limit=limit),
    )


# --- answered questions -----------------------------------------------------------------------------


def answered_questions(*, conversation: Conversation, message_id: int, limit: int = 3) -> list[AnsweredQuestion]:
    ws = conversation.workspace_id
    similar = [
        (pk, score)
        for pk, score in similar_messages(workspace_id=ws, message_id=message_id, limit=CANDIDATES, questions_only=True)
        if score >= MIN_QUESTION_SIMILARITY
    ]
    if not similar:
        return []
    ids = [pk for pk, _ in similar]
    questions = _messages(ws, ids)
    if conversation.thread_id is not None:  # the same thread is this conversation, not a past answer
        ids = [pk for pk in ids if pk in questions and questions[pk]["thread_id"] != conversation.thread_id]
    answers = _recorded_answers(ws, ids)
    answers |= _first_replies(ws, [pk for pk in ids if pk not in answers], questions)
    texts = _messages(ws, [answer[0] for answer in answers.values()])
    found: list[AnsweredQuestion] = []
    for pk, score in similar:
        if pk not in answers or pk not in questions or answers[pk][0] not in texts:
            continue
        answer_id, answered_by, conversation_id = answers[pk]
        answer = texts[answer_id]
        found.append(
            AnsweredQuestion(
                question_id=pk, question=questions[pk]["body"], asked_at=questions[pk]["created_at"],
                answer_id=answer_id, answer=answer["body"], answered_by=answered_by,
                answerer=answer["member__display_name"] or "", conversation_id=conversation_id, similarity=score,
            )
        )  # fmt: skip
        if len(found) == limit:
            break
    return found


def _messages(workspace_id: int, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = Message.objects.filter(workspace_id=workspace_id, pk__in=list(ids), deleted_at=None).values(
        "pk", "title", "text", "created_at", "thread_id", "member_id", "member__display_name", "member__is_staff"
    )
    return {row["pk"]: {**row, "body": "\n".join(p for p in (row["title"], row["text"]) if p)} for row in rows}


def _recorded_answers(workspace_id: int, ids: Sequence[int]) -> dict[int, tuple[int, str, int | None]]:
    """question id → (answer id, "staff"|"member", conversation id), as triage recorded them."""
    rows = (
        ConversationMessage.objects.filter(workspace_id=workspace_id, message_id__in=list(ids))
        .exclude(answer_message=None)
        .order_by("answered_at")
        .values_list("message_id", "answer_message_id", "answered_by", "conversation_id")
    )
    found: dict[int, tuple[int, str, int | None]] = {}
    for question, answer, by, conversation in rows:
        found.setdefault(question, (answer, by or "member", conversation))
    return found


def _first_replies(
    workspace_id: int, ids: Sequence[int], questions: dict[int, dict[str, Any]]
) -> dict[int, tuple[int, str, int | None]]:
    """question id → its first reply by someone other than the asker; a staff reply wins over a member's."""
    if not ids:
        return {}
    rows = (
        Message.objects.filter(workspace_id=workspace_id, parent_id__in=list(ids), deleted_at=None)
        .exclude(Q(text="") & Q(title=""))
        .order_by("created_at", "id")
        .values_list("pk", "parent_id", "member_id", "member__is_staff")
    )
    found: dict[int, tuple[int, str, int | None]] = {}
    for pk, parent, member, is_staff in rows:
        if member is not None and member == questions.get(parent, {}).get("member_id"):
            continue  # the asker adding to their own question
        current = found.get(parent)
        if current is None or (is_staff and current[1] != "staff"):
            found[parent] = (pk, "staff" if is_staff else "member", None)
    return found


# --- saved replies ------------------------------------------------------------------------------------


def saved_replies_for(*, conversation: Conversation, message_id: int, limit: int = 3) -> list[SuggestedSavedReply]:
    own = (
        MessageSignals.objects.filter(workspace_id=conversation.workspace_id, pk=message_id)
        .values_list("embedding", "embedding_version")
        .first()
    )
    if own is None or own[0] is None:
        return []
    question = dequantise(bytes(own[0]))
    candidates = _candidates(conversation)
    if not candidates:
        return []
    matrix = _embeddings(candidates, version=own[1])
    if matrix is None or matrix.shape[1] != question.shape[0]:
        return []
    scores = matrix @ question
    found = []
    for i in np.argsort(-scores, kind="stable")[:limit]:
        if scores[i] < MIN_SAVED_REPLY_SIMILARITY:
            break
        found.append(dataclasses.replace(candidates[int(i)].reply, similarity=round(float(scores[i]), 3)))
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class _Candidate:
    reply: SuggestedSavedReply
    cache_key: str  # names the row's version: an edit re-embeds it


def _candidates(conversation: Conversation) -> list[_Candidate]:
    language = conversation.language
    rows = (
        SavedReply.objects.filter(workspace_id=conversation.workspace_id)
        .prefetch_related("variants")
        .order_by("-use_count", "pk")[:SAVED_REPLIES_SCANNED]
    )
    found = []
    for saved in rows:
        variant = next((v for v in saved.variants.all() if language and v.language == language), None)
        text, lang = (variant.body, variant.language) if variant else (saved.body, saved.language)
        reply = SuggestedSavedReply(saved.pk, saved.title, saved.shortcut, text, lang, 0.0)
        key = f"inbox:saved-reply-embedding:{saved.pk}:{lang}:{saved.updated_at.timestamp():.6f}"
        found.append(_Candidate(reply, key))
    return found


def _embeddings(candidates: Sequence[_Candidate], *, version: str) -> NDArray[np.float32] | None:
    """Unit vectors of "title\\ntext" per candidate, from the cache or the encoder (only the missing ones)."""
    tag = hashlib.sha1(version.encode()).hexdigest()[:12]  # noqa: S324 - a cache key, not security
    keys = [f"{candidate.cache_key}:{tag}" for candidate in candidates]
    cached: dict[str, Any] = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    if missing:
        encoder = models_backend().encoder()
        if encoder is None or encoder.version != version:
            return None  # the question was embedded by another encoder: the spaces do not compare
        texts = [f"{candidates[i].reply.title}\n{candidates[i].reply.text}" for i in missing]
        vectors = encoder.encode(texts)
        fresh = {keys[i]: np.asarray(vectors[row], dtype=np.float32).tobytes() for row, i in enumerate(missing)}
        cache.set_many(fresh, timeout=EMBEDDING_CACHE_SECONDS)
        cached |= fresh
    return np.vstack([np.frombuffer(cached[key], dtype=np.float32) for key in keys])
