"""Triage: enriched messages open and update conversations; priority is computed and explained.

Runs on "messages.enriched" (tasks.triage_messages_task) and on "conflict.detected". For each message, oldest
first, once (a message already linked to a conversation is skipped, so running twice changes nothing):

1. Whose side is it? The brand's (a reply sent through the outbox, a member marked staff, the brand's own
   account: the Matrix/IRC bot user, the mailbox's own address, the Bluesky account itself), a bot that is not
   the brand's (ignored), or a member's. Spam is ignored.
2. Which conversation? `key`: "dm:<source>:<channel>" for direct messages, else "thread:<thread id>".
3. The brand's messages join an existing conversation and record the first/next response; they never open or
   reopen one.
4. A member's message with a reason (question, complaint = negative sentiment, a mention of the brand, a DM,
   a reply to the brand's post, flagged by members) opens a conversation, or adds the reason to the existing
   one. A message by the conversation's own member (or any message with a reason) reopens a resolved,
   pending or snoozed conversation; other members' plain messages join it as the community's, and may
   answer its questions (needs_reply.py).
5. Messages older than OPEN_HORIZON (an imported history) do not open new conversations: the inbox is for
   what needs an answer now.

Priority (0–100): the strongest reason's base points, plus the member's wait, negative sentiment, member
importance, toxicity in the thread, the platform, escalation; minus a community answer. Each part is a
reason {"code", "points", …} in `priority_reasons`; docs/inbox.md lists them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from communa.connectors.base import MessageKind
from communa.enrichment.tables import MessageSignals
from communa.inbox.models import Activity, Conversation, ConversationMessage, Reply
from communa.stream.models import Message

logger = logging.getLogger(__name__)
Reason = Conversation.Reason
Role = ConversationMessage.Role

OPEN_HORIZON = timedelta(days=7)
# Connectors whose is_bot identity is the brand's own account (the bot user Communa signs in as).
BRAND_BOT_KINDS = frozenset({"matrix", "irc"})
DM_METADATA_KEYS = ("is_direct", "dm", "direct")
FLAG_REACTIONS = frozenset({"🚩", "⚠️", "⚠", ":flag:", ":warning:", "flag"})
SKIPPED_KINDS = frozenset({MessageKind.JOIN, MessageKind.LEAVE})

# --- priority -------------------------------------------------------------------------------------------

BASE_POINTS = {
    Reason.CONFLICT: 35,
    Reason.COMPLAINT: 30,
    Reason.FLAGGED: 30,
    Reason.DM: 25,
    Reason.QUESTION: 20,
    Reason.MANUAL: 20,
    Reason.REPLY_TO_BRAND: 15,
    Reason.MENTION: 10,
}
# Minutes a member has waited → points (the highest step reached).
WAIT_STEPS = ((30, 5), (120, 10), (480, 20), (1440, 30))
NEGATIVE_POINTS = 15
TOXIC_POINTS = 15
ESCALATED_POINTS = 15
COMMUNITY_ANSWER_POINTS = -20
# Member importance by messages written (Member.message_count for now): threshold → points.
IMPORTANCE_STEPS = ((20, 5), (100, 10), (500, 15))
PLATFORM_POINTS = {"bluesky": 10, "email": 5}  # public posts are seen by everyone; mail expects an answer
AGE_CODE = "waiting"


def _wait_points(minutes: float) -> tuple[int, int | None]:
    """Points for waiting `minutes`, and the minute of the next step (None at the last)."""
    points, following = 0, None
    for threshold, step_points in WAIT_STEPS:
        if minutes >= threshold:
            points = step_points
        elif following is None:
            following = threshold
    return points, following


def _age_part(conversation: Conversation, now: datetime) -> tuple[dict[str, Any] | None, datetime | None]:
    if conversation.waiting_since is None or conversation.state != Conversation.State.OPEN:
        return None, None
    minutes = (now - conversation.waiting_since).total_seconds() / 60
    points, following = _wait_points(minutes)
    refresh = conversation.waiting_since + timedelta(minutes=following) if following is not None else None
    part = {"code": AGE_CODE, "points": points, "minutes": int(minutes)} if points else None
    return part, refresh


def _importance(member_messages: int) -> int:
    importance = 0
    for threshold, points in IMPORTANCE_STEPS:
        if member_messages >= threshold:
            importance = points
    return importance


def compute_priority(
    conversation: Conversation,
    *,
    now: datetime,
    negative: bool,
    toxic: bool,
    member_messages: int,
    platform: str,
) -> tuple[int, list[dict[str, Any]], datetime | None]:
    """(priority 0–100, the reasons with their points, when the wait next adds points)."""
    parts: list[dict[str, Any]] = []
    reasons = [r for r in [conversation.reason, *conversation.reasons] if r in BASE_POINTS]
    if reasons:
        strongest = max(reasons, key=lambda r: BASE_POINTS[Reason(r)])
        parts.append({"code": "reason", "points": BASE_POINTS[Reason(strongest)], "reason": strongest})
    age, refresh = _age_part(conversation, now)
    if age:
        parts.append(age)
    parts += [{"code": "negative", "points": NEGATIVE_POINTS}] if negative else []
    parts += [{"code": "toxic_thread", "points": TOXIC_POINTS}] if toxic else []
    importance = _importance(member_messages)
    if importance:
        parts.append({"code": "member", "points": importance, "messages": member_messages})
    if PLATFORM_POINTS.get(platform):
        parts.append({"code": "platform", "points": PLATFORM_POINTS[platform], "platform": platform})
    if conversation.escalated_at is not None:
        parts.append({"code": "escalated", "points": ESCALATED_POINTS})
    if conversation.answered_by_community:
        parts.append({"code": "community_answer", "points": COMMUNITY_ANSWER_POINTS})
    total = max(0, min(100, sum(int(p["points"]) for p in parts)))
    return total, parts, refresh


def _apply_priority(
    conversation: Conversation, total: int, parts: list[dict[str, Any]], refresh: datetime | None
) -> None:
    conversation.priority_computed = total
    conversation.priority_reasons = parts
    conversation.priority_refresh_at = refresh
    conversation.priority = total if conversation.priority_override is None else conversation.priority_override


def refresh_priority(conversation: Conversation, *, now: datetime) -> None:
    """Recompute the priority from the conversation's messages (a few indexed queries). Caller saves."""
    from communa.members.models import Member

    message_ids = list(
        ConversationMessage.objects.filter(conversation=conversation, role=Role.MEMBER).values_list(
            "message_id", flat=True
        )
    )
    negative = (
        MessageSignals.objects.filter(message_id__in=message_ids).filter(_negative_q()).exists()
        if message_ids
        else False
    )
    toxic = (
        MessageSignals.objects.filter(message__thread_id=conversation.thread_id, is_toxic=True).exists()
        if conversation.thread_id
        else MessageSignals.objects.filter(message_id__in=message_ids, is_toxic=True).exists()
    )
    member_messages = (
        Member.objects.filter(pk=conversation.member_id).values_list("message_count", flat=True).first() or 0
        if conversation.member_id
        else 0
    )
    platform = _platform(conversation.source_id)
    _apply_priority(
        conversation,
        *compute_priority(
            conversation, now=now, negative=negative, toxic=toxic, member_messages=member_messages, platform=platform
        ),
    )


def _negative_q() -> Any:
    from django.db.models import Q

    return Q(sentiment_corrected="negative") | Q(sentiment_corrected="", sentiment="negative")


def refresh_waiting_priorities(*, now: datetime | None = None, limit: int = 1000) -> int:
    """The periodic step: conversations whose wait reached the next step get their wait points, with no
    message queries (the other parts are kept as they were explained)."""
    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(priority_refresh_at__lte=now)
        .order_by("priority_refresh_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(of=("self",)).filter(pk=pk, priority_refresh_at__lte=now).first()
            )
            if conversation is None:
                continue
            kept = [p for p in conversation.priority_reasons if p.get("code") != AGE_CODE]
            age, refresh = _age_part(conversation, now)
            parts = kept[:1] + ([age] if age else []) + kept[1:]
            total = max(0, min(100, sum(int(p["points"]) for p in parts)))
            _apply_priority(conversation, total, parts, refresh)
            conversation.version += 1
            conversation.save()
    return len(due)


_platform_cache: dict[int, str] = {}


def _platform(source_id: int) -> str:
    from communa.connectors.models import Source

    if source_id not in _platform_cache:
        _platform_cache[source_id] = Source.objects.filter(pk=source_id).values_list("kind", flat=True).first() or ""
    return _platform_cache[source_id]


# --- reading a message ----------------------------------------------------------------------------------


def _signals(message: Message) -> MessageSignals | None:
    try:
        return message.signals
    except MessageSignals.DoesNotExist:
        return None


def is_question(message: Message) -> bool:
    signals = _signals(message)
    return bool(signals and signals.is_question)


def is_negative(message: Message) -> bool:
    signals = _signals(message)
    return bool(signals and (signals.sentiment_corrected or signals.sentiment) == "negative")


def is_spam(message: Message) -> bool:
    signals = _signals(message)
    return bool(signals and signals.is_spam)


def is_dm(message: Message) -> bool:
    meta = message.metadata or {}
    return any(meta.get(key) is True for key in DM_METADATA_KEYS)


def channel_of(message: Message) -> str:
    meta = message.metadata or {}
    return str(meta.get("room_id") or meta.get("channel") or "")


@dataclasses.dataclass(slots=True)
class Batch:
    """What a batch's triage looked up once instead of per message: the (source id, external id) pairs the
    outbox sent, and the conversation keys that exist (a message with no reason and no conversation costs
    no query)."""

    sent: set[tuple[int, str]]
    keys: set[str]

    @classmethod
    def load(cls, workspace_id: int, messages: Sequence[Message]) -> Batch:
        from communa.outbox.models import OutboxItem

        pairs = {(m.source_id, m.external_id) for m in messages}
        pairs |= {(m.parent.source_id, m.parent.external_id) for m in messages if m.parent is not None}
        sent: set[tuple[int, str]] = set()
        for source_id in {source_id for source_id, _ in pairs}:
            external_ids = sorted(e for s, e in pairs if s == source_id and e)
            for start in range(0, len(external_ids), 500):
                sent |= set(
                    OutboxItem.objects.filter(
                        source_id=source_id,
                        result_external_id__in=external_ids[start : start + 500],
                        state=OutboxItem.State.SENT,
                    ).values_list("source_id", "result_external_id")
                )
        keys = {key_for(m)[0] for m in messages} | {key_for(m.parent)[0] for m in messages if m.parent is not None}
        existing = set(
            Conversation.objects.filter(workspace_id=workspace_id, key__in=sorted(keys)).values_list("key", flat=True)
        )
        return cls(sent=sent, keys=existing)


def sent_by_brand(message: Message, batch: Batch | None = None) -> tuple[bool, Reply | None]:
    """Whether the brand wrote `message`, and the inbox Reply it was when it was one."""
    from communa.outbox.selectors import sent_item_for

    item = None
    if batch is None or (message.source_id, message.external_id) in batch.sent:
        item = sent_item_for(source_id=message.source_id, external_id=message.external_id)
    if item is not None:
        reply = None
        if item.origin.startswith("inbox.reply:"):
            try:
                reply = Reply.objects.filter(pk=int(item.origin.removeprefix("inbox.reply:"))).first()
            except ValueError:
                reply = None
        return True, reply
    meta = message.metadata or {}
    if meta.get("outgoing") is True or meta.get("own") is True:
        return True, None
    if message.member is not None and message.member.is_staff:
        return True, None
    identity = message.identity
    if identity is not None and identity.is_bot and _platform(message.source_id) in BRAND_BOT_KINDS:
        return True, None
    return False, None


def is_other_bot(message: Message) -> bool:
    return bool(
        (message.identity is not None and message.identity.is_bot) or (message.member and message.member.is_bot)
    )


def mentions_brand(text: str, names: Sequence[str]) -> bool:
    """Whole-word, case-insensitive literal match of any of `names` in `text` (no pattern syntax)."""
    folded = text.casefold()
    for name in names:
        needle = name.strip().casefold()
        if not needle:
            continue
        start = folded.find(needle)
        while start != -1:
            end = start + len(needle)
            before = folded[start - 1] if start else " "
            after = folded[end] if end < len(folded) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                return True
            start = folded.find(needle, start + 1)
    return False


def reasons_for(message: Message, *, brand_names: Sequence[str], batch: Batch | None = None) -> list[str]:
    """Why this member message needs the brand, strongest first (empty: it does not)."""
    reasons: list[str] = []
    meta = message.metadata or {}
    if is_dm(message):
        reasons.append(Reason.DM)
    if meta.get("flagged") or (isinstance(meta.get("flags"), int) and meta["flags"] > 0):
        reasons.append(Reason.FLAGGED)
    if is_negative(message):
        reasons.append(Reason.COMPLAINT)
    if is_question(message):
        reasons.append(Reason.QUESTION)
    parent = message.parent
    if meta.get("reason") == "reply" or (parent is not None and sent_by_brand(parent, batch)[0]):
        reasons.append(Reason.REPLY_TO_BRAND)
    if meta.get("reason") in ("mention", "quote") or mentions_brand(f"{message.title} {message.text}", brand_names):
        reasons.append(Reason.MENTION)
    return reasons


def key_for(message: Message) -> tuple[str, str]:
    """(conversation key, kind) of the conversation this message belongs to."""
    if is_dm(message):
        return f"dm:{message.source_id}:{channel_of(message) or message.member_id}", Conversation.Kind.DM
    kind = Conversation.Kind.EMAIL if message.kind == MessageKind.EMAIL else Conversation.Kind.THREAD
    if message.thread_id:
        return f"thread:{message.thread_id}", kind
    return f"message:{message.pk}", kind


# --- triage ---------------------------------------------------------------------------------------------


def triage_messages(*, workspace_id: int, message_ids: Iterable[int], now: datetime | None = None) -> int:
    """Triage a batch; returns how many messages joined a conversation. Idempotent."""
    from communa.inbox.services import settings_for

    now = now or timezone.now()
    ids = sorted({int(pk) for pk in message_ids})
    if not ids:
        return 0
    done = set(ConversationMessage.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    todo = [pk for pk in ids if pk not in done]
    if not todo:
        return 0
    settings = settings_for(workspace_id)
    names = _brand_names(workspace_id, settings.brand_keywords)
    messages = list(
        Message.objects.filter(workspace_id=workspace_id, pk__in=todo)
        .select_related("source", "member", "identity", "thread", "signals", "parent__member", "parent__identity")
        .order_by("created_at", "id")
    )
    batch = Batch.load(workspace_id, messages)
    linked = 0
    for message in messages:
        linked += triage_one(message, brand_names=names, now=now, auto_assign=settings.auto_assign, batch=batch)
    return linked


def _brand_names(workspace_id: int, keywords: Sequence[str]) -> list[str]:
    from communa.accounts.models import Workspace

    name = Workspace.objects.filter(pk=workspace_id).values_list("name", flat=True).first() or ""
    return [n for n in [name, *keywords] if n]


def triage_one(
    message: Message,
    *,
    brand_names: Sequence[str],
    now: datetime,
    auto_assign: bool = True,
    batch: Batch | None = None,
) -> int:
    """Triage one message, in a transaction of its own. Returns 1 when it joined a conversation."""
    if message.deleted_at is not None or message.kind in SKIPPED_KINDS:
        return 0
    if message.kind == MessageKind.REACTION:
        with transaction.atomic():
            return _flag_reaction(message, brand_names=brand_names, now=now, auto_assign=auto_assign)
    key, kind = key_for(message)
    brand, reply = sent_by_brand(message, batch)
    ignored = not brand and (is_other_bot(message) or is_spam(message))
    reasons = [] if brand or ignored else reasons_for(message, brand_names=brand_names, batch=batch)
    if ignored or (batch is not None and key not in batch.keys and (brand or not reasons)):
        return 0  # nothing to join and nothing that opens one: no query
    with transaction.atomic():
        return _join(
            message,
            key=key,
            kind=kind,
            brand=brand,
            reply=reply,
            reasons=reasons,
            now=now,
            auto_assign=auto_assign,
            batch=batch,
        )


def _join(
    message: Message,
    *,
    key: str,
    kind: str,
    brand: bool,
    reply: Reply | None,
    reasons: list[str],
    now: datetime,
    auto_assign: bool,
    batch: Batch | None,
) -> int:
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("sla_policy")
        .filter(workspace_id=message.workspace_id, key=key)
        .first()
    )
    if brand:
        return _brand_message(conversation, message, reply=reply, now=now) if conversation else 0
    if conversation is None:
        if not reasons or message.created_at < now - OPEN_HORIZON:
            return 0
        conversation = _open(message, key=key, kind=kind, reason=reasons[0], now=now)
        if batch is not None:
            batch.keys.add(key)
        _member_message(conversation, message, reasons=reasons, now=now, opening=True)
        if auto_assign:
            from communa.inbox.assignment import auto_assign as assign_by_rule

            assign_by_rule(conversation, now=now)
        return 1
    _member_message(conversation, message, reasons=reasons, now=now, opening=False)
    return 1


def _open(message: Message, *, key: str, kind: str, reason: str, now: datetime) -> Conversation:
    from communa.inbox.services import activity, emit_event, policy_for, utc_iso

    policy = policy_for(workspace_id=message.workspace_id, source_id=message.source_id)
    if reason == Reason.MENTION and kind == Conversation.Kind.THREAD and message.parent_id is None:
        kind = Conversation.Kind.MENTION
    subject = (message.thread.title if message.thread else "") or message.title
    conversation = Conversation.objects.create(
        workspace_id=message.workspace_id,
        key=key,
        source_id=message.source_id,
        kind=kind,
        thread=message.thread,
        channel=channel_of(message),
        member=message.member,
        first_message=message,
        subject=subject[:500],
        reason=reason,
        reasons=[],
        opened_at=message.created_at,
        last_message_at=message.created_at,
        sla_policy=policy,
    )
    activity(conversation, Activity.Kind.OPENED, at=message.created_at, reason=reason, message_id=message.pk)
    emit_event(
        conversation,
        "conversation.created",
        reason=reason,
        opened_at=utc_iso(message.created_at),
        member_id=message.member_id,
    )
    return conversation


def _member_message(
    conversation: Conversation, message: Message, *, reasons: list[str], now: datetime, opening: bool
) -> None:
    from communa.inbox.needs_reply import answer_questions
    from communa.inbox.services import start_waiting

    own = conversation.member_id is None or message.member_id == conversation.member_id
    role = Role.MEMBER if own or reasons else Role.COMMUNITY
    question = is_question(message)
    ConversationMessage.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        message=message,
        role=role,
        created_at=message.created_at,
        is_question=question,
    )
    conversation.message_count += 1
    if conversation.member_id is None and message.member_id is not None:
        conversation.member_id = message.member_id
    for reason in reasons:
        if reason != conversation.reason and reason not in conversation.reasons:
            conversation.reasons = [*conversation.reasons, reason]
    conversation.last_message_at = max(conversation.last_message_at, message.created_at)
    if role == Role.COMMUNITY:
        if not question:
            answer_questions(
                conversation,
                at=message.created_at,
                answered_by="member",
                answerer_member_id=message.member_id,
                answer_message_id=message.pk,
                exclude_member_id=message.member_id,
            )
    else:
        _newest_member_message(conversation, message)
        if not opening and conversation.state != Conversation.State.OPEN:
            _reopen(conversation, message)
        start_waiting(conversation, at=message.created_at)
    refresh_priority(conversation, now=now)
    conversation.version += 1
    conversation.save()


def _newest_member_message(conversation: Conversation, message: Message) -> None:
    if conversation.last_member_message_at is not None and message.created_at < conversation.last_member_message_at:
        return
    conversation.last_member_message_at = message.created_at
    conversation.last_member_message = message
    conversation.preview = " ".join(message.text.split())[:300]
    signals = _signals(message)
    detected = signals.language if signals is not None and signals.language != "und" else ""
    if message.language or detected:
        conversation.language = message.language or detected


def _reopen(conversation: Conversation, message: Message) -> None:
    """A member wrote in a pending, snoozed or resolved conversation: it is open again."""
    from communa.inbox.services import activity, emit_event, utc_iso

    before = conversation.state
    conversation.state = Conversation.State.OPEN
    conversation.snoozed_until = None
    if before == Conversation.State.RESOLVED:
        conversation.resolved_at = None
        conversation.resolved_by = None
        conversation.reopen_count += 1
        activity(conversation, Activity.Kind.REOPENED, at=message.created_at, message_id=message.pk)
        emit_event(conversation, "conversation.reopened", at=utc_iso(message.created_at))
    else:
        activity(conversation, Activity.Kind.STATE, at=message.created_at, data={"from": before, "to": "open"})


def _brand_message(conversation: Conversation, message: Message, *, reply: Reply | None, now: datetime) -> int:
    from communa.inbox.services import link_brand_message, record_brand_response

    link_brand_message(conversation, message)
    conversation.message_count += 1
    if reply is not None and reply.message_id is None:
        Reply.objects.filter(pk=reply.pk).update(message=message)
    staff_member_id = message.member_id if message.member is not None and message.member.is_staff else None
    record_brand_response(
        conversation, at=message.created_at, staff_member_id=staff_member_id, answer_message_id=message.pk
    )
    refresh_priority(conversation, now=now)
    conversation.version += 1
    conversation.save()
    return 1


def _flag_reaction(message: Message, *, brand_names: Sequence[str], now: datetime, auto_assign: bool) -> int:
    """A flag reaction (🚩, ⚠️) by a member on a member's message opens a conversation on that message."""
    parent = message.parent
    if parent is None or message.text.strip() not in FLAG_REACTIONS or sent_by_brand(message)[0]:
        return 0
    if sent_by_brand(parent)[0] or parent.deleted_at is not None:
        return 0
    key, kind = key_for(parent)
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("sla_policy")
        .filter(workspace_id=parent.workspace_id, key=key)
        .first()
    )
    if conversation is None:
        if parent.created_at < now - OPEN_HORIZON:
            return 0
        conversation = _open(parent, key=key, kind=kind, reason=Reason.FLAGGED, now=now)
        _member_message(conversation, parent, reasons=[Reason.FLAGGED], now=now, opening=True)
        if auto_assign:
            from communa.inbox.assignment import auto_assign as assign_by_rule

            assign_by_rule(conversation, now=now)
        return 1
    if Reason.FLAGGED not in [conversation.reason, *conversation.reasons]:
        conversation.reasons = [*conversation.reasons, Reason.FLAGGED]
        refresh_priority(conversation, now=now)
        conversation.version += 1
        conversation.save()
    return 0


def on_conflict(*, workspace_id: int, data: dict[str, Any], now: datetime | None = None) -> Conversation | None:
    """moderation's "conflict.detected" {thread_id, source_id, message_ids, score, reasons}: open (or reopen)
    the thread's conversation with the reason "conflict". Idempotent for the same thread and messages."""
    from communa.inbox.services import activity, emit_event, utc_iso

    now = now or timezone.now()
    thread_id = data.get("thread_id")
    message_ids = sorted(int(pk) for pk in data.get("message_ids") or [])
    messages = list(
        Message.objects.filter(workspace_id=workspace_id, pk__in=message_ids)
        .select_related("source", "member", "identity", "thread", "signals", "parent__member", "parent__identity")
        .order_by("created_at", "id")
    )
    if thread_id is None and messages:
        thread_id = messages[0].thread_id
    if not messages:
        return None
    first = messages[0]
    key = f"thread:{thread_id}" if thread_id else f"message:{first.pk}"
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("sla_policy")
            .filter(workspace_id=workspace_id, key=key)
            .first()
        )
        if conversation is None:
            conversation = _open(first, key=key, kind=Conversation.Kind.THREAD, reason=Reason.CONFLICT, now=now)
            conversation.member = None
        elif Reason.CONFLICT not in [conversation.reason, *conversation.reasons]:
            conversation.reasons = [*conversation.reasons, Reason.CONFLICT]
        linked = set(
            ConversationMessage.objects.filter(conversation=conversation, message_id__in=message_ids).values_list(
                "message_id", flat=True
            )
        )
        fresh = [m for m in messages if m.pk not in linked]
        if fresh and conversation.state == Conversation.State.RESOLVED:
            conversation.state = Conversation.State.OPEN
            conversation.resolved_at = None
            conversation.resolved_by = None
            conversation.reopen_count += 1
            activity(conversation, Activity.Kind.REOPENED, at=now, reason=Reason.CONFLICT)
            emit_event(conversation, "conversation.reopened", at=utc_iso(now))
        for message in fresh:
            ConversationMessage.objects.create(
                workspace_id=workspace_id,
                conversation=conversation,
                message=message,
                role=Role.MEMBER,
                created_at=message.created_at,
                is_question=is_question(message),
            )
            conversation.message_count += 1
            if message.created_at > conversation.last_message_at:
                conversation.last_message_at = message.created_at
        if fresh:
            from communa.inbox.services import start_waiting

            start_waiting(conversation, at=fresh[-1].created_at)
        refresh_priority(conversation, now=now)
        conversation.version += 1
        conversation.save()
    return conversation


def wake_snoozed(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Snoozed conversations whose time has come are open again."""
    from communa.inbox.services import activity

    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(state=Conversation.State.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("pk", flat=True)[:limit]
    )
    woken = 0
    for pk in due:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(of=("self",))
                .filter(pk=pk, state=Conversation.State.SNOOZED, snoozed_until__lte=now)
                .first()
            )
            if conversation is None:
                continue
            conversation.state = Conversation.State.OPEN
            conversation.snoozed_until = None
            activity(conversation, Activity.Kind.STATE, at=now, data={"from": "snoozed", "to": "open", "woken": True})
            refresh_priority(conversation, now=now)
            conversation.version += 1
            conversation.save()
            woken += 1
    return woken


def open_for_message(
    message: Message, *, reason: str, now: datetime | None = None, auto_assign: bool = False
) -> Conversation:
    """Open (or return) the conversation of `message` for `reason`, whatever its age and signals: a person's
    "open in inbox" from the stream (reason "manual"), the demo. A question reason marks the message as a
    question for needs-reply. Idempotent: the message joins once."""
    now = now or timezone.now()
    key, kind = key_for(message)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("sla_policy")
            .filter(workspace_id=message.workspace_id, key=key)
            .first()
        )
        if conversation is None:
            conversation = _open(message, key=key, kind=kind, reason=reason, now=now)
            _member_message(conversation, message, reasons=[reason], now=now, opening=True)
            if auto_assign:
                from communa.inbox.assignment import auto_assign as assign_by_rule

                assign_by_rule(conversation, now=now)
        elif not ConversationMessage.objects.filter(conversation=conversation, message=message).exists():
            _member_message(conversation, message, reasons=[reason], now=now, opening=False)
        if reason == Reason.QUESTION:
            ConversationMessage.objects.filter(conversation=conversation, message=message).update(is_question=True)
    return conversation
