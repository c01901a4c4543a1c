"""Writes for engagement: activity from messages, scores, levels, lifecycle, profile facts.

The flow: `messages.enriched` (the question signal is known then) → `record_activity` writes the batch's
weighted ActivityEvent rows (idempotent: one row per cause and kind) → `refresh_engagement` recomputes the
affected members' score, level and lifecycle from their activity, emitting "member.level_changed" and
"member.lifecycle_changed" for real transitions. A periodic sweep (`sweep_engagement`) applies the decay, the
slow demotions and the quiet-member states to everyone else, in bounded chunks.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.core.bulk import chunked
from communa.events.services import emit
from communa.members.engagement import lifecycle, scoring
from communa.members.engagement.facts import estimate_utc_offset, organisation_from_emails
from communa.members.engagement.models import ActivityEvent, ActivityKind, MemberEngagement, MemberFacts
from communa.members.models import Identity, Member
from communa.stream.models import Message

# Message kinds that are not something a person said.
PRESENCE_KINDS = frozenset({"join", "leave"})
# Kinds of activity that make a member "active" for the lifecycle (credit received and reactions do not).
OWN_KINDS = frozenset({
    ActivityKind.QUESTION, ActivityKind.HELPFUL_REPLY, ActivityKind.POST, ActivityKind.REPLY,
    ActivityKind.EVENT_ATTENDED,
})  # fmt: skip
RECENT_DAYS = 30
# Words an asker thanks with, in the languages of the product (folded to lower case).
_THANKS = re.compile(
    r"\b(thank|thanks|thx|ty|grazie|gracias|obrigad[oa]|merci|danke|спасибо|благодар\w*|cheers)\b", re.IGNORECASE
)
SWEEP_AFTER = timedelta(hours=20)  # a row untouched this long is due for the periodic decay


@dataclasses.dataclass(frozen=True, slots=True)
class _Msg:
    id: int
    member_id: int | None
    kind: str
    parent_id: int | None
    thread_id: int | None
    root_id: int | None
    created_at: datetime
    text: str
    language: str
    platform: str
    is_question: bool | None
    sentiment: str
    metadata: dict[str, Any]


_MSG_FIELDS = (
    "id", "member_id", "kind", "parent_id", "thread_id", "thread__root_id", "created_at", "text", "language",
    "identity__platform", "signals__is_question", "signals__sentiment", "signals__language", "metadata",
    "deleted_at",
)  # fmt: skip


def _load(workspace: Workspace, ids: Iterable[int]) -> dict[int, _Msg]:
    found: dict[int, _Msg] = {}
    for chunk in chunked(sorted(set(ids))):
        for row in Message.objects.filter(workspace=workspace, id__in=chunk).values(*_MSG_FIELDS):
            if row["deleted_at"] is not None:
                continue
            found[row["id"]] = _Msg(
                id=row["id"],
                member_id=row["member_id"],
                kind=row["kind"],
                parent_id=row["parent_id"],
                thread_id=row["thread_id"],
                root_id=row["thread__root_id"],
                created_at=row["created_at"],
                text=row["text"][:2000],
                language=(row["language"] or row["signals__language"] or "").replace("und", ""),
                platform=row["identity__platform"] or "",
                is_question=row["signals__is_question"],
                sentiment=row["signals__sentiment"] or "",
                metadata=row["metadata"] if isinstance(row["metadata"], dict) else {},
            )
    return found


def _is_question(message: _Msg) -> bool:
    """The enrichment signal when there is one; a question mark otherwise (enrichment disabled)."""
    if message.is_question is not None:
        return message.is_question
    return "?" in message.text or "？" in message.text


def _is_thanks(message: _Msg) -> bool:
    return message.kind == "reaction" or bool(_THANKS.search(message.text)) or message.sentiment == "positive"


def _excluded(workspace: Workspace, member_ids: Iterable[int]) -> set[int]:
    """Staff and bots: left out of engagement (contracts: "Who is staff")."""
    ids = sorted(set(member_ids))
    excluded: set[int] = set()
    for chunk in chunked(ids):
        excluded.update(
            Member.objects.filter(workspace=workspace, id__in=chunk)
            .filter(Q(is_staff=True) | Q(is_bot=True))
            .values_list("id", flat=True)
        )
    return excluded


class _Builder:
    """The ActivityEvent rows a batch of messages produces."""

    def __init__(self, workspace: Workspace, batch: dict[int, _Msg], context: dict[int, _Msg], excluded: set[int]):
        self.workspace, self.batch, self.context, self.excluded = workspace, batch, context, excluded
        self.rows: list[ActivityEvent] = []

    def add(self, kind: str, *, credited: _Msg, cause: _Msg, counterpart: int | None) -> None:
        assert credited.member_id is not None
        self.rows.append(
            ActivityEvent(
                workspace=self.workspace,
                member_id=credited.member_id,
                kind=kind,
                weight=scoring.WEIGHTS[kind],
                at=cause.created_at,
                message_id=credited.id,
                cause_id=cause.id,
                counterpart_id=counterpart if counterpart != credited.member_id else None,
                platform=cause.platform or credited.platform,
                language=credited.language,
            )
        )

    def counts(self, member_id: int | None) -> bool:
        return member_id is not None and member_id not in self.excluded

    def build(self, first_replies: set[int]) -> list[ActivityEvent]:
        for message in self.batch.values():
            if message.kind in PRESENCE_KINDS or not self.counts(message.member_id):
                continue
            self._message(message, first_replies)
        return self.rows

    def _message(self, m: _Msg, first_replies: set[int]) -> None:
        parent = self.context.get(m.parent_id) if m.parent_id else None
        root = self.context.get(m.root_id) if m.root_id and m.root_id != m.id else None
        if m.kind == "reaction":
            self.add(ActivityKind.REACTION, credited=m, cause=m, counterpart=parent.member_id if parent else None)
            self._thanks(m, parent, root)
            return
        if parent is None and root is None:
            kind = ActivityKind.QUESTION if _is_question(m) else ActivityKind.POST
            self.add(kind, credited=m, cause=m, counterpart=None)
        elif root is not None and _is_question(root) and self.counts(root.member_id) and root.member_id != m.member_id:
            self.add(ActivityKind.HELPFUL_REPLY, credited=m, cause=m, counterpart=root.member_id)
            if m.id in first_replies:
                self.add(ActivityKind.FIRST_REPLY, credited=m, cause=m, counterpart=root.member_id)
        else:
            counterpart = parent.member_id if parent else root.member_id if root else None
            self.add(ActivityKind.REPLY, credited=m, cause=m, counterpart=counterpart)
            self._thanks(m, parent, root)
        if m.metadata.get("accepted_answer") is True and root is not None and root.member_id != m.member_id:
            self.add(ActivityKind.ACCEPTED_ANSWER, credited=m, cause=m, counterpart=root.member_id)

    def _thanks(self, m: _Msg, parent: _Msg | None, root: _Msg | None) -> None:
        """The asker reacting to, or thanking, a reply to their question: credit for the reply's author."""
        if parent is None or root is None or root.member_id != m.member_id or not _is_question(root):
            return
        if parent.member_id in {None, m.member_id} or not self.counts(parent.member_id) or not _is_thanks(m):
            return
        self.add(ActivityKind.THANKED, credited=parent, cause=m, counterpart=m.member_id)


def _first_replies(workspace: Workspace, batch: dict[int, _Msg], context: dict[int, _Msg]) -> set[int]:
    """Replies in the batch that were the first answer to their thread's question by anyone but the asker."""
    first: set[int] = set()
    threads = {m.thread_id for m in batch.values() if m.thread_id and m.root_id and m.root_id != m.id}
    for chunk in chunked(sorted(t for t in threads if t is not None)):
        rows = (
            Message.objects.filter(workspace=workspace, thread_id__in=chunk, deleted_at=None, parent__isnull=False)
            .exclude(kind__in=[*PRESENCE_KINDS, "reaction"])
            .order_by("thread_id", "created_at", "id")
            .values_list("thread_id", "id", "member_id")
        )
        seen: set[int] = set()
        for thread_id, message_id, member_id in rows:
            if thread_id in seen:
                continue
            root = next((c for c in context.values() if c.thread_id == thread_id and c.root_id == c.id), None)
            if root is not None and member_id == root.member_id:
                continue  # the asker adding details is not an answer
            seen.add(thread_id)
            first.add(message_id)
    return first


def record_activity(*, workspace: Workspace, message_ids: Sequence[int]) -> set[int]:
    """Write the weighted activity a batch of messages produces; return the members whose score changed.

    Safe to run twice: what the batch's messages produce replaces what they produced before (one row per cause
    and kind). Replies whose question arrives (or is classified) in a later batch are counted by the next
    `rebuild_activity`.
    """
    batch = _load(workspace, message_ids)
    related = {m.parent_id for m in batch.values() if m.parent_id} | {m.root_id for m in batch.values() if m.root_id}
    context = {**_load(workspace, [pk for pk in related if pk is not None and pk not in batch]), **batch}
    excluded = _excluded(workspace, {m.member_id for m in context.values() if m.member_id is not None})
    rows = _Builder(workspace, batch, context, excluded).build(_first_replies(workspace, batch, context))
    with transaction.atomic():
        # The batch's messages may have been read before (an edit, signals stored after a first pass): what they
        # produce now replaces what they produced then. Accepted answers the inbox reported are kept.
        affected: set[int] = set()
        for part in chunked(sorted(batch)):
            stale = ActivityEvent.objects.filter(workspace=workspace, cause_id__in=part).exclude(
                kind=ActivityKind.ACCEPTED_ANSWER
            )
            affected.update(stale.values_list("member_id", flat=True))
            stale.delete()
        for chunk in chunked(rows, 500):
            ActivityEvent.objects.bulk_create(chunk, ignore_conflicts=True)
    affected |= {row.member_id for row in rows}
    affected.update(m.member_id for m in batch.values() if m.member_id is not None and m.member_id not in excluded)
    return affected


# --- scores, levels, lifecycle ------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _History:
    items: list[tuple[float, datetime]] = dataclasses.field(default_factory=list)
    own_times: list[datetime] = dataclasses.field(default_factory=list)
    recent: Counter[str] = dataclasses.field(default_factory=Counter)


def _histories(member_ids: Sequence[int], now: datetime) -> dict[int, _History]:
    histories: dict[int, _History] = defaultdict(_History)
    horizon, recent_from = now - timedelta(days=scoring.HORIZON_DAYS), now - timedelta(days=RECENT_DAYS)
    rows = (
        ActivityEvent.objects.filter(member_id__in=member_ids, at__gte=horizon, at__lte=now)
        .order_by("member_id", "at", "id")
        .values_list("member_id", "kind", "weight", "at")
    )
    for member_id, kind, weight, at in rows:
        history = histories[member_id]
        history.items.append((weight, at))
        if kind in OWN_KINDS:
            history.own_times.append(at)
        if at >= recent_from:
            history.recent[kind] += 1
    return histories


def refresh_engagement(*, workspace: Workspace, member_ids: Iterable[int], now: datetime | None = None) -> int:
    """Recompute score, level and lifecycle of these members from their activity; return how many changed
    level or lifecycle. Staff and bots lose their row."""
    now = now or timezone.now()
    ids = sorted(set(member_ids))
    changed = 0
    for chunk in chunked(ids, 500):
        excluded = _excluded(workspace, chunk)
        MemberEngagement.objects.filter(workspace=workspace, member_id__in=excluded).delete()
        wanted = [pk for pk in chunk if pk not in excluded]
        live = set(
            Member.objects.filter(workspace=workspace, id__in=wanted, merged_into__isnull=True).values_list(
                "id", flat=True
            )
        )
        MemberEngagement.objects.filter(workspace=workspace, member_id__in=set(wanted) - live).delete()
        with transaction.atomic():
            changed += _refresh_chunk(workspace, sorted(live), now)
    return changed


def _refresh_chunk(workspace: Workspace, ids: list[int], now: datetime) -> int:
    existing = {row.member_id: row for row in MemberEngagement.objects.select_for_update().filter(member_id__in=ids)}
    histories = _histories(ids, now)
    then = now - timedelta(days=RECENT_DAYS)
    creates, updates, changed = [], [], 0
    for member_id in ids:
        history = histories.get(member_id, _History())
        row = existing.get(member_id)
        if row is None:
            row = _new_row(workspace, member_id, history, now)
            creates.append(row)
            continue
        score = scoring.score_of(history.items, now)
        below = scoring.crossed_below(row.score, row.score_at, scoring.threshold(row.level))
        level = scoring.next_level(
            scoring.LevelState(row.level, row.level_since, row.below_since), score, now, below_from=below
        )
        state = lifecycle.next_state(
            lifecycle.LifecycleState(row.lifecycle, row.lifecycle_since),
            first_active=history.own_times[0] if history.own_times else row.first_active_at,
            last_active=history.own_times[-1] if history.own_times else row.last_active_at,
            activity_total=max(row.activity_total, len(history.own_times)),
            now=now,
        )
        changed += _emit_changes(workspace, row, level, state, now)
        row.score, row.score_at = score, now
        row.score_30d_ago = scoring.score_of(history.items, then)
        row.level, row.level_since, row.below_since = level.level, level.since, level.below_since
        row.lifecycle, row.lifecycle_since = state.state, state.since
        if history.own_times:
            row.first_active_at = min(history.own_times[0], row.first_active_at or history.own_times[0])
            row.last_active_at = max(history.own_times[-1], row.last_active_at or history.own_times[-1])
        row.activity_total = max(row.activity_total, len(history.own_times))
        row.recent, row.updated_at = dict(history.recent), now
        updates.append(row)
    MemberEngagement.objects.bulk_create(creates, batch_size=500, ignore_conflicts=True)
    fields = [
        "score", "score_at", "score_30d_ago", "level", "level_since", "below_since", "lifecycle", "lifecycle_since",
        "first_active_at", "last_active_at", "activity_total", "recent", "updated_at",
    ]  # fmt: skip
    MemberEngagement.objects.bulk_update(updates, fields, batch_size=500)
    return changed


def _new_row(workspace: Workspace, member_id: int, history: _History, now: datetime) -> MemberEngagement:
    """A member's first row: their level and lifecycle as if Communa had followed their whole history."""
    level, score = scoring.replay_level(history.items, now)
    state = lifecycle.replay(history.own_times, now)
    return MemberEngagement(
        workspace=workspace,
        member_id=member_id,
        score=score,
        score_at=now,
        score_30d_ago=scoring.score_of(history.items, now - timedelta(days=RECENT_DAYS)),
        level=level.level,
        level_since=level.since,
        below_since=level.below_since,
        lifecycle=state.state,
        lifecycle_since=state.since,
        first_active_at=history.own_times[0] if history.own_times else None,
        last_active_at=history.own_times[-1] if history.own_times else None,
        activity_total=len(history.own_times),
        recent=dict(history.recent),
        updated_at=now,
    )


def _emit_changes(
    workspace: Workspace,
    row: MemberEngagement,
    level: scoring.LevelState,
    state: lifecycle.LifecycleState,
    now: datetime,
) -> int:
    changed = 0
    at = now.isoformat()
    if level.level != row.level:
        data = {"member_id": row.member_id, "from": row.level, "to": level.level, "at": at}
        emit(workspace_id=workspace.pk, name="member.level_changed", data=data)
        changed += 1
    if state.state != row.lifecycle:
        data = {"member_id": row.member_id, "from": row.lifecycle, "to": state.state, "at": at}
        emit(workspace_id=workspace.pk, name="member.lifecycle_changed", data=data)
        changed += 1
    return changed


@dataclasses.dataclass(slots=True)
class SweepResult:
    members: int = 0
    changed: int = 0
    done: bool = True


def sweep_engagement(
    *, workspace: Workspace, now: datetime | None = None, budget_seconds: float = 60.0, chunk: int = 1000
) -> SweepResult:
    """The periodic pass: decay, slow demotions and quiet-member states for rows not refreshed lately.

    Bounded in time: it stops after `budget_seconds` with `done=False` (the task enqueues the rest), so a
    workspace with a million members is swept over several short tasks, never in one long transaction.
    """
    now = now or timezone.now()
    started = time.monotonic()
    result = SweepResult()
    due = MemberEngagement.objects.filter(workspace=workspace, updated_at__lt=now - SWEEP_AFTER)
    while True:
        ids = list(due.order_by("updated_at", "member_id").values_list("member_id", flat=True)[:chunk])
        if not ids:
            return result
        result.changed += refresh_engagement(workspace=workspace, member_ids=ids, now=now)
        result.members += len(ids)
        if time.monotonic() - started > budget_seconds:
            result.done = not due.exists()
            return result


def rebuild_activity(*, workspace: Workspace, now: datetime | None = None, chunk: int = 2000) -> int:
    """Derive every message's activity again (after an import of old history, or a change of weights) and
    refresh everyone. Returns how many members have engagement rows afterwards."""
    now = now or timezone.now()
    ActivityEvent.objects.filter(workspace=workspace, message__isnull=False).delete()
    ids = list(Message.objects.filter(workspace=workspace).order_by("id").values_list("id", flat=True))
    members: set[int] = set()
    for part in chunked(ids, chunk):
        members |= record_activity(workspace=workspace, message_ids=part)
    refresh_engagement(workspace=workspace, member_ids=members, now=now)
    refresh_facts(workspace=workspace, member_ids=members, now=now)
    return MemberEngagement.objects.filter(workspace=workspace).count()


def on_members_merged(*, workspace: Workspace, member_ids: Sequence[int]) -> None:
    """After a merge or its undo: activity follows its messages to their member now, then both are refreshed."""
    rows = ActivityEvent.objects.filter(workspace=workspace, member_id__in=member_ids, message__isnull=False)
    for row in rows.only("id", "member_id", "message_id"):
        owner = Message.objects.filter(pk=row.message_id or 0).values_list("member_id", flat=True).first()
        if owner is not None and owner != row.member_id:
            ActivityEvent.objects.filter(pk=row.pk).update(member_id=owner)
    refresh_engagement(workspace=workspace, member_ids=member_ids)
    refresh_facts(workspace=workspace, member_ids=member_ids)


# --- message counts and profile facts -----------------------------------------------------------------


def refresh_facts(*, workspace: Workspace, member_ids: Iterable[int], now: datetime | None = None) -> None:
    """Languages, time zone estimate and organisation (unless set by hand) of these members."""
    now = now or timezone.now()
    for chunk in chunked(sorted(set(member_ids)), 500):
        messages = Message.objects.filter(workspace=workspace, member_id__in=chunk, deleted_at=None).exclude(
            kind__in=[*PRESENCE_KINDS, "reaction"]
        )
        languages: dict[int, Counter[str]] = defaultdict(Counter)
        for member_id, language, n in (
            messages.exclude(language__in=["", "und"]).values_list("member_id", "language").annotate(n=Count("id"))
        ):
            languages[member_id][language] += n
        hours: dict[int, Counter[int]] = defaultdict(Counter)
        for member_id, at in messages.order_by("member_id", "-created_at").values_list("member_id", "created_at"):
            if sum(hours[member_id].values()) < 500:  # the latest 500 are plenty for an estimate
                hours[member_id][at.astimezone(UTC).hour] += 1
        emails: dict[int, list[str]] = defaultdict(list)
        for member_id, email in (
            Identity.objects.filter(workspace=workspace, member_id__in=chunk)
            .exclude(email="")
            .values_list("member_id", "email")
        ):
            emails[member_id].append(email)
        _save_facts(workspace, chunk, languages, hours, emails, now)


def _save_facts(
    workspace: Workspace,
    ids: Sequence[int],
    languages: dict[int, Counter[str]],
    hours: dict[int, Counter[int]],
    emails: dict[int, list[str]],
    now: datetime,
) -> None:
    existing = {row.member_id: row for row in MemberFacts.objects.filter(member_id__in=ids)}
    live = set(Member.objects.filter(id__in=ids, merged_into__isnull=True).values_list("id", flat=True))
    creates: list[MemberFacts] = []
    updates: list[MemberFacts] = []
    for member_id in ids:
        if member_id not in live:
            continue
        ranked = dict(languages[member_id].most_common())
        offset, confidence = estimate_utc_offset(hours[member_id])
        row = existing.get(member_id) or MemberFacts(workspace=workspace, member_id=member_id, computed_at=now)
        row.languages, row.main_language = ranked, next(iter(ranked), "")
        row.utc_offset, row.utc_offset_confidence = offset, confidence
        if not row.organisation_by_hand:
            row.organisation = organisation_from_emails(emails[member_id])
        row.computed_at = now
        (updates if member_id in existing else creates).append(row)
    MemberFacts.objects.bulk_create(creates, batch_size=500, ignore_conflicts=True)
    fields = ["languages", "main_language", "utc_offset", "utc_offset_confidence", "organisation", "computed_at"]
    MemberFacts.objects.bulk_update(updates, fields, batch_size=500)
