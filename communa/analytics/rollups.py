"""Rollups: how the numbers the dashboards read are kept up to date, incrementally and idempotently.

Two paths compute the same rows from the same definition of a message's contribution (`fact_queryset`):

- **apply_batch** (the worker, after `messages.ingested` / `messages.enriched`): for the batch's messages
  (and replies to them, whose "reply to another member" depends on the parent), compute each message's
  contribution now, read what the ledger (`MessageFact`) says it contributed before, and add the
  difference to the counters (`DailyRollup`, `HourlyRollup`, `MemberDay`) with `x = x + delta` upserts.
  Re-processing a batch adds zero; a message enriched later, edited into a question, or whose author was
  marked staff moves between counters instead of being counted twice. Ledger updates of one workspace are
  serialised by a row lock on its `RollupState`. Cost is proportional to the batch, never to the day.
- **rebuild** (backfill, the benchmark): for a range of local days, delete and recompute everything with
  set-based `INSERT ... SELECT ... GROUP BY` statements.

Distinct counts (DAU/WAU/MAU, new and total members, cohorts) are recomputed exactly from `MemberDay` for
the days a batch touched (`DirtyDay`), by `refresh_dirty` (a periodic job, every minute), and topics by
`topics.refresh_topics`. Days are local to the workspace's time zone; hours are UTC.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncHour
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.analytics.models import (
    ALL_LANGUAGES,
    ALL_SOURCES,
    ActiveDaily,
    CohortWeek,
    DailyRollup,
    DirtyDay,
    HourlyRollup,
    MemberActivity,
    MemberDay,
    MessageFact,
    RollupState,
)
from communa.core.bulk import chunked, table, upsert
from communa.outbox.models import OutboxItem
from communa.stream.models import Message

logger = logging.getLogger(__name__)

NOT_CONTENT = ("reaction", "join", "leave")
FACT_FIELDS = (
    "message_id",
    "workspace_id",
    "day",
    "hour",
    "source_id",
    "language",
    "member_id",
    "counted",
    "staff",
    "reaction",
    "thread_start",
    "reply",
    "peer_reply",
    "question",
    "sentiment",
    "toxic",
    "spam",
)
FLAG_FIELDS = FACT_FIELDS[7:]


def hourly_days() -> int:
    return int(getattr(settings, "ANALYTICS_HOURLY_DAYS", 63))


def workspace_tz(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def day_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants [start 00:00, (end + 1) 00:00) of local days start..end."""
    lo = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return lo, hi


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def fact_queryset(workspace: Workspace) -> QuerySet[Message]:
    """Each message's contribution, as columns named like MessageFact's (the one definition of it).

    - staff: the author is staff or a bot, or the message was sent by Communa (the outbox);
    - counted: a member's message (not staff, not spam), reactions/joins/leaves excluded; deleted messages
      stay counted (they were posted; a moderator's removal does not rewrite history);
    - peer_reply: a counted reply whose parent's author is another member who is not staff.
    """
    tz = workspace_tz(workspace)
    sent = OutboxItem.objects.filter(
        source_id=OuterRef("source_id"), result_external_id=OuterRef("external_id"), state=OutboxItem.State.SENT
    )
    staff = Q(member__is_staff=True) | Q(member__is_bot=True) | Q(identity__is_bot=True) | Q(Exists(sent))
    spam = Q(signals__is_spam=True)
    content = Q(member__isnull=False) & ~Q(kind__in=NOT_CONTENT)
    parent_member = (
        Q(parent__member__isnull=False)
        & ~Q(parent__member_id=F("member_id"))
        & Q(parent__member__is_staff=False)
        & Q(parent__member__is_bot=False)
    )
    return (
        Message.objects.filter(workspace=workspace)
        .annotate(
            f_staff=_flag(staff),
        )
        .annotate(
            message_id=F("id"),
            day=TruncDate("created_at", tzinfo=tz),
            hour=TruncHour("created_at", tzinfo=UTC),
            counted=_flag(content & Q(f_staff=False) & ~spam),
            reaction=_flag(Q(kind="reaction") & Q(f_staff=False)),
            thread_start=_flag(Q(thread__root_id=F("id"))),
            reply=_flag(Q(parent__isnull=False) | Q(parent_external_id__gt="")),
            peer_reply=_flag(parent_member),
            question=_flag(Q(signals__is_question=True)),
            sentiment=Coalesce(F("signals__sentiment"), Value("")),
            toxic=_flag(Q(signals__is_toxic=True)),
            spam=_flag(spam & content & Q(f_staff=False)),
            staff=F("f_staff"),
        )
    )


@dataclass(frozen=True, slots=True)
class Fact:
    message_id: int
    day: date
    hour: datetime
    source_id: int
    language: str
    member_id: int | None
    counted: bool
    staff: bool
    reaction: bool
    thread_start: bool
    reply: bool
    peer_reply: bool
    question: bool
    sentiment: str
    toxic: bool
    spam: bool


def _as_fact(row: dict[str, Any]) -> Fact:
    day = row["day"]
    if isinstance(day, datetime):
        day = day.date()
    hour = row["hour"]
    if timezone.is_naive(hour):
        hour = hour.replace(tzinfo=UTC)
    return Fact(
        message_id=int(row["message_id"]),
        day=day,
        hour=hour.astimezone(UTC),
        source_id=int(row["source_id"]),
        language=row["language"] or "",
        member_id=row["member_id"],
        **{name: bool(row[name]) for name in FLAG_FIELDS if name != "sentiment"},
        sentiment=row["sentiment"] or "",
    )


def _daily_contribution(fact: Fact) -> dict[str, int]:
    if fact.staff:
        return {"staff_messages": 1} if fact.member_id is not None and not fact.reaction else {}
    out: dict[str, int] = {}
    if fact.reaction:
        out["reactions"] = 1
    if fact.spam:
        out["spam"] = 1
    if not fact.counted:
        return out
    out["messages"] = 1
    for name, flag in (
        ("threads", fact.thread_start),
        ("replies", fact.reply),
        ("peer_replies", fact.peer_reply),
        ("questions", fact.question),
        ("toxic", fact.toxic),
    ):
        if flag:
            out[name] = 1
    if fact.sentiment in ("positive", "neutral", "negative"):
        out[fact.sentiment] = 1
    return out


def _hourly_contribution(fact: Fact) -> dict[str, int]:
    if not fact.counted:
        return {}
    out = {"messages": 1}
    if fact.sentiment == "negative":
        out["negative"] = 1
    if fact.toxic:
        out["toxic"] = 1
    return out


def _member_contribution(fact: Fact) -> dict[str, int]:
    if not fact.counted or fact.member_id is None:
        return {}
    return {"messages": 1, "replies": int(fact.reply), "peer_replies": int(fact.peer_reply)}


def _add(target: dict[Any, dict[str, int]], key: Any, values: dict[str, int], sign: int) -> None:
    bucket = target[key]
    for name, value in values.items():
        bucket[name] = bucket.get(name, 0) + sign * value


@dataclass(frozen=True, slots=True)
class BatchResult:
    messages: int
    changed: int
    days: frozenset[date]


def _related_ids(workspace: Workspace, message_ids: Sequence[int]) -> list[int]:
    """The batch plus replies to it: a reply that arrived before its parent is a peer reply only now."""
    ids = set(message_ids)
    for chunk in chunked(list(message_ids)):
        ids.update(Message.objects.filter(workspace=workspace, parent_id__in=chunk).values_list("id", flat=True))
    return sorted(ids)


def apply_batch(*, workspace: Workspace, message_ids: Sequence[int]) -> BatchResult:
    """Bring the rollups up to date for these messages: safe to run any number of times."""
    ids = _related_ids(workspace, message_ids)
    if not ids:
        return BatchResult(messages=0, changed=0, days=frozenset())
    new: dict[int, Fact] = {}
    qs = fact_queryset(workspace)
    for chunk in chunked(ids):
        for row in qs.filter(id__in=chunk).values(*[f for f in FACT_FIELDS if f != "workspace_id"]):
            fact = _as_fact(row)
            new[fact.message_id] = fact
    hour_floor = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=hourly_days())
    RollupState.objects.get_or_create(workspace=workspace)
    with transaction.atomic():
        RollupState.objects.select_for_update().filter(workspace=workspace).update(updated_at=timezone.now())
        old: dict[int, Fact] = {}
        for chunk in chunked(ids):
            for row in MessageFact.objects.filter(workspace=workspace, message_id__in=chunk).values(
                *[f for f in FACT_FIELDS if f != "workspace_id"]
            ):
                fact = _as_fact(row)
                old[fact.message_id] = fact
        daily: dict[tuple[date, int, str], dict[str, int]] = defaultdict(dict)
        hourly: dict[tuple[datetime, int, str], dict[str, int]] = defaultdict(dict)
        members: dict[tuple[date, int, int, str], dict[str, int]] = defaultdict(dict)
        changed: list[Fact] = []
        gone: list[int] = []
        days: set[date] = set()
        for message_id in ids:
            before, after = old.get(message_id), new.get(message_id)
            if before == after:
                continue
            for fact, sign in ((before, -1), (after, 1)):
                if fact is None:
                    continue
                days.add(fact.day)
                _add(daily, (fact.day, fact.source_id, fact.language), _daily_contribution(fact), sign)
                if fact.hour >= hour_floor:
                    _add(hourly, (fact.hour, fact.source_id, fact.language), _hourly_contribution(fact), sign)
                if fact.member_id is not None:
                    key = (fact.day, fact.member_id, fact.source_id, fact.language)
                    _add(members, key, _member_contribution(fact), sign)
            if after is None:
                gone.append(message_id)
            else:
                changed.append(after)
        _apply(DailyRollup, workspace, ("day", "source_id", "language"), daily)
        _apply(HourlyRollup, workspace, ("hour", "source_id", "language"), hourly)
        _apply(MemberDay, workspace, ("day", "member_id", "source_id", "language"), members)
        if members:
            _prune_member_days(workspace, members)
            refresh_member_activity(workspace=workspace, member_ids={key[1] for key in members})
        if changed:
            upsert(
                MessageFact,
                columns=FACT_FIELDS,
                rows=[(f.message_id, workspace.pk, *_fact_tuple(f)) for f in changed],
                conflict=["message_id"],
                update=FACT_FIELDS[2:],
            )
        if gone:
            MessageFact.objects.filter(workspace=workspace, message_id__in=gone).delete()
        mark_dirty(workspace=workspace, days=days)
    return BatchResult(messages=len(ids), changed=len(changed) + len(gone), days=frozenset(days))


def _fact_tuple(f: Fact) -> tuple[Any, ...]:
    return (
        f.day,
        f.hour,
        f.source_id,
        f.language,
        f.member_id,
        f.counted,
        f.staff,
        f.reaction,
        f.thread_start,
        f.reply,
        f.peer_reply,
        f.question,
        f.sentiment,
        f.toxic,
        f.spam,
    )


def _apply(
    model: type[DailyRollup] | type[HourlyRollup] | type[MemberDay],
    workspace: Workspace,
    key_fields: Sequence[str],
    deltas: dict[Any, dict[str, int]],
) -> None:
    counters = [name for name in _counters(model)]
    rows = []
    for key, values in deltas.items():
        if not any(values.values()):
            continue
        rows.append((workspace.pk, *key, *[values.get(name, 0) for name in counters]))
    if not rows:
        return
    upsert(
        model,
        columns=["workspace_id", *key_fields, *counters],
        rows=rows,
        conflict=["workspace_id", *key_fields] if model is not MemberDay else ["workspace", *key_fields],
        expressions={name: f"{{table}}.{name} + excluded.{name}" for name in counters},
    )


def _counters(model: type[Any]) -> tuple[str, ...]:
    if model is MemberDay:
        return ("messages", "replies", "peer_replies")
    return tuple(model.COUNTERS)


def _prune_member_days(workspace: Workspace, touched: dict[tuple[date, int, int, str], dict[str, int]]) -> None:
    members = sorted({key[1] for key in touched})
    for chunk in chunked(members):
        MemberDay.objects.filter(workspace=workspace, member_id__in=chunk, messages__lte=0).delete()


def refresh_member_activity(*, workspace: Workspace, member_ids: Iterable[int] | None = None) -> None:
    """Recompute first/last active day and totals from MemberDay (for these members, or everyone)."""
    base = MemberDay.objects.filter(workspace=workspace)
    chunks: Iterable[Sequence[int] | None] = [None] if member_ids is None else chunked(sorted(member_ids))
    for chunk in chunks:
        scoped = base if chunk is None else base.filter(member_id__in=chunk)
        rows = scoped.values("member_id").annotate(
            first=Min("day"), last=Max("day"), days=Count("day", distinct=True), total=Sum("messages")
        )
        found = []
        for row in rows:
            found.append((row["member_id"], workspace.pk, row["first"], row["last"], row["days"], row["total"]))
        stale = MemberActivity.objects.filter(workspace=workspace)
        if chunk is not None:
            stale = stale.filter(member_id__in=chunk)
        if chunk is not None:
            stale.exclude(member_id__in=[r[0] for r in found]).delete()
        else:
            stale.exclude(member_id__in=scoped.values("member_id")).delete()
        upsert(
            MemberActivity,
            columns=["member_id", "workspace_id", "first_day", "last_day", "active_days", "messages"],
            rows=found,
            conflict=["member_id"],
            update=["first_day", "last_day", "active_days", "messages"],
        )


def mark_dirty(*, workspace: Workspace, days: Iterable[date], kinds: Sequence[str] = ("active", "topics")) -> None:
    now = timezone.now()
    rows = [(workspace.pk, kind, day, now) for day in sorted(set(days)) for kind in kinds]
    upsert(
        DirtyDay,
        columns=["workspace_id", "kind", "day", "marked_at"],
        rows=rows,
        conflict=["workspace", "kind", "day"],
        update=["marked_at"],
    )


# ---- distinct counts: DAU/WAU/MAU, new and total members, cohorts ----------------------------------------


def today(workspace: Workspace) -> date:
    return local_day(timezone.now(), workspace_tz(workspace))


def refresh_active(*, workspace: Workspace, days: Iterable[date]) -> int:
    """Recompute ActiveDaily for these days and the 29 after each (their WAU/MAU windows), up to today, and the
    cohorts of their weeks. Returns how many days were recomputed."""
    last = max(today(workspace), max(days, default=today(workspace)))
    affected: set[date] = set()
    for day in days:
        for offset in range(30):
            if day + timedelta(days=offset) > last:
                break
            affected.add(day + timedelta(days=offset))
    if not affected:
        return 0
    base = MemberDay.objects.filter(workspace=workspace)
    rows: list[tuple[Any, ...]] = []
    for day in sorted(affected):
        counts: dict[tuple[int, str], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(("dau", "wau", "mau", "new"), 0)
        )
        for label, span in (("dau", 1), ("wau", 7), ("mau", 30)):
            window = base.filter(day__gt=day - timedelta(days=span), day__lte=day)
            counts[(ALL_SOURCES, ALL_LANGUAGES)][label] = window.aggregate(n=Count("member_id", distinct=True))["n"]
            for row in window.values("source_id").annotate(n=Count("member_id", distinct=True)):
                counts[(row["source_id"], ALL_LANGUAGES)][label] = row["n"]
            for row in window.values("language").annotate(n=Count("member_id", distinct=True)):
                counts[(ALL_SOURCES, row["language"])][label] = row["n"]
        on_day = base.filter(day=day)
        earlier = base.filter(member_id=OuterRef("member_id"), day__lt=day)
        counts[(ALL_SOURCES, ALL_LANGUAGES)]["new"] = MemberActivity.objects.filter(
            workspace=workspace, first_day=day
        ).count()
        for row in (
            on_day.exclude(Exists(earlier.filter(source_id=OuterRef("source_id"))))
            .values("source_id")
            .annotate(n=Count("member_id", distinct=True))
        ):
            counts[(row["source_id"], ALL_LANGUAGES)]["new"] = row["n"]
        for row in (
            on_day.exclude(Exists(earlier.filter(language=OuterRef("language"))))
            .values("language")
            .annotate(n=Count("member_id", distinct=True))
        ):
            counts[(ALL_SOURCES, row["language"])]["new"] = row["n"]
        ActiveDaily.objects.filter(workspace=workspace, day=day).delete()
        for (source_id, language), c in counts.items():
            rows.append((workspace.pk, day, source_id, language, c["dau"], c["wau"], c["mau"], c["new"], 0))
    upsert(
        ActiveDaily,
        columns=["workspace_id", "day", "source_id", "language", "dau", "wau", "mau", "new_members", "total_members"],
        rows=rows,
        conflict=["workspace", "day", "source_id", "language"],
        update=["dau", "wau", "mau", "new_members"],
    )
    _refresh_totals(workspace, min(affected))
    refresh_cohorts(workspace=workspace, weeks={week_start(d) for d in days})
    return len(affected)


def _refresh_totals(workspace: Workspace, since: date) -> None:
    """total_members = running sum of new_members per (source, language) dimension, from `since` on."""
    quote = connection.ops.quote_name
    t = table(ActiveDaily)
    sql = (
        f"UPDATE {t} SET {quote('total_members')} = (SELECT COALESCE(SUM(p.new_members), 0) FROM {t} p "
        f"WHERE p.workspace_id = {t}.workspace_id AND p.source_id = {t}.source_id AND p.language = {t}.language "
        f"AND p.day <= {t}.day) WHERE {t}.workspace_id = %s AND {t}.day >= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, since])


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def refresh_cohorts(*, workspace: Workspace, weeks: Iterable[date]) -> None:
    """Recompute the retention rows of these activity weeks (every cohort's count of members active then)."""
    for week in sorted(set(weeks)):
        active = (
            MemberDay.objects.filter(workspace=workspace, day__gte=week, day__lt=week + timedelta(days=7))
            .values_list("member_id", flat=True)
            .distinct()
        )
        firsts = MemberActivity.objects.filter(workspace=workspace, member_id__in=active).values_list(
            "first_day", flat=True
        )
        counts: dict[date, int] = defaultdict(int)
        for first in firsts:
            counts[week_start(first)] += 1
        CohortWeek.objects.filter(workspace=workspace, week=week).delete()
        CohortWeek.objects.bulk_create(
            [CohortWeek(workspace=workspace, cohort=c, week=week, members=n) for c, n in counts.items()]
        )


def refresh_dirty(*, workspace: Workspace | None = None, limit: int = 400) -> int:
    """Recompute distinct counts for days marked dirty (and clear exactly the marks read)."""
    marks = DirtyDay.objects.filter(kind=DirtyDay.Kind.ACTIVE)
    if workspace is not None:
        marks = marks.filter(workspace=workspace)
    done = 0
    by_ws: dict[int, list[tuple[int, date, datetime]]] = defaultdict(list)
    for pk, ws_id, day, marked_at in marks.order_by("day").values_list("pk", "workspace_id", "day", "marked_at")[
        :limit
    ]:
        by_ws[ws_id].append((pk, day, marked_at))
    for ws_id, items in by_ws.items():
        ws = Workspace.objects.filter(pk=ws_id).first()
        if ws is None:
            continue
        with transaction.atomic():
            done += refresh_active(workspace=ws, days=[day for _, day, _ in items])
            for pk, _, marked_at in items:
                DirtyDay.objects.filter(pk=pk, marked_at=marked_at).delete()
    return done


# ---- rebuild: set-based recompute of a range (backfill, benchmark) ---------------------------------------


def _insert_select(model: type[Any], columns: Sequence[str], qs: QuerySet[Any], names: Sequence[str]) -> int:
    sql, params = qs.values_list(*names).query.sql_with_params()
    quote = connection.ops.quote_name
    cols = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table(model)} ({cols}) {sql}", params)
        return int(cursor.rowcount or 0)


def rebuild(*, workspace: Workspace, start: date, end: date, refresh: bool = True) -> int:
    """Recompute every rollup row of local days start..end from the messages, set-based. Returns messages."""
    tz = workspace_tz(workspace)
    lo, hi = day_bounds(start, end, tz)
    hour_floor = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=hourly_days())
    with transaction.atomic():
        MessageFact.objects.filter(workspace=workspace, day__gte=start, day__lte=end).delete()
        facts = fact_queryset(workspace).filter(created_at__gte=lo, created_at__lt=hi)
        names = ["message_id", "workspace_id", *FACT_FIELDS[2:]]
        n = _insert_select(MessageFact, FACT_FIELDS, facts, names)
        scope = MessageFact.objects.filter(workspace=workspace, day__gte=start, day__lte=end)
        DailyRollup.objects.filter(workspace=workspace, day__gte=start, day__lte=end).delete()
        member = Q(counted=True)
        daily = scope.values("workspace_id", "day", "source_id", "language").annotate(
            n_messages=Count("pk", filter=member),
            n_staff=Count("pk", filter=Q(staff=True, member_id__isnull=False, reaction=False)),
            n_reactions=Count("pk", filter=Q(reaction=True, staff=False)),
            n_threads=Count("pk", filter=member & Q(thread_start=True)),
            n_replies=Count("pk", filter=member & Q(reply=True)),
            n_peer=Count("pk", filter=member & Q(peer_reply=True)),
            n_questions=Count("pk", filter=member & Q(question=True)),
            n_pos=Count("pk", filter=member & Q(sentiment="positive")),
            n_neu=Count("pk", filter=member & Q(sentiment="neutral")),
            n_neg=Count("pk", filter=member & Q(sentiment="negative")),
            n_toxic=Count("pk", filter=member & Q(toxic=True)),
            n_spam=Count("pk", filter=Q(spam=True)),
        )
        _insert_select(
            DailyRollup,
            ["workspace_id", "day", "source_id", "language", *DailyRollup.COUNTERS],
            daily,
            [
                "workspace_id",
                "day",
                "source_id",
                "language",
                "n_messages",
                "n_staff",
                "n_reactions",
                "n_threads",
                "n_replies",
                "n_peer",
                "n_questions",
                "n_pos",
                "n_neu",
                "n_neg",
                "n_toxic",
                "n_spam",
            ],
        )
        HourlyRollup.objects.filter(workspace=workspace, hour__gte=max(lo, hour_floor), hour__lt=hi).delete()
        hourly = (
            scope.filter(hour__gte=hour_floor, counted=True)
            .values("workspace_id", "hour", "source_id", "language")
            .annotate(
                n_messages=Count("pk"),
                n_neg=Count("pk", filter=Q(sentiment="negative")),
                n_toxic=Count("pk", filter=Q(toxic=True)),
            )
        )
        _insert_select(
            HourlyRollup,
            ["workspace_id", "hour", "source_id", "language", *HourlyRollup.COUNTERS],
            hourly,
            ["workspace_id", "hour", "source_id", "language", "n_messages", "n_neg", "n_toxic"],
        )
        MemberDay.objects.filter(workspace=workspace, day__gte=start, day__lte=end).delete()
        member_days = (
            scope.filter(counted=True, member_id__isnull=False)
            .values("workspace_id", "day", "member_id", "source_id", "language")
            .annotate(
                n_messages=Count("pk"),
                n_replies=Count("pk", filter=Q(reply=True)),
                n_peer=Count("pk", filter=Q(peer_reply=True)),
            )
        )
        _insert_select(
            MemberDay,
            ["workspace_id", "day", "member_id", "source_id", "language", "messages", "replies", "peer_replies"],
            member_days,
            ["workspace_id", "day", "member_id", "source_id", "language", "n_messages", "n_replies", "n_peer"],
        )
    if refresh:
        refresh_member_activity(workspace=workspace)
        refresh_all_active(workspace=workspace, start=start, end=end)
    return n


def refresh_all_active(*, workspace: Workspace, start: date, end: date) -> None:
    """Distinct counts for a whole range (after a rebuild)."""
    days = []
    day = start
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    refresh_active(workspace=workspace, days=days)
    DirtyDay.objects.filter(workspace=workspace, kind=DirtyDay.Kind.ACTIVE, day__gte=start, day__lte=end).delete()
    mark_dirty(workspace=workspace, days=days, kinds=("topics",))


def message_range(workspace: Workspace) -> tuple[date, date] | None:
    tz = workspace_tz(workspace)
    span = Message.objects.filter(workspace=workspace).aggregate(lo=Min("created_at"), hi=Max("created_at"))
    if span["lo"] is None:
        return None
    return local_day(span["lo"], tz), local_day(span["hi"], tz)


def prune_hourly(*, workspace: Workspace | None = None) -> int:
    floor = timezone.now() - timedelta(days=hourly_days() + 1)
    qs = HourlyRollup.objects.filter(hour__lt=floor)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    deleted, _ = qs.delete()
    return deleted
