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
`topics.refresh_topics`. Both paths also keep the precomputed segments current (segments.py): a batch's
deltas go to the segments of their authors, and the refresh recomputes the segments' distinct counts.
Days are local to the workspace's time zone; hours are UTC.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
from communa.core.bulk import adapt_rows, chunked, select_in, table, upsert
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
    sql = f"SELECT id FROM {table(Message)} WHERE workspace_id = %s AND parent_id IN ({{marks}})"  # noqa: S608
    ids.update(row[0] for row in select_in(sql, params=[workspace.pk], values=list(message_ids)))
    return sorted(ids)


def _read_facts(qs: QuerySet[Any], ids: Sequence[int], id_field: str) -> dict[int, Fact]:
    names = [f for f in FACT_FIELDS if f != "workspace_id"]
    out: dict[int, Fact] = {}
    postgres = connection.vendor == "postgresql"
    column = f"{table(qs.model)}.{connection.ops.quote_name(qs.model._meta.get_field(id_field).column)}"
    for chunk in chunked(ids, 5000 if postgres else 500):
        if postgres:  # one array parameter instead of a placeholder per id
            scoped = qs.extra(where=[f"{column} = ANY(%s)"], params=[list(chunk)])  # noqa: S610
        else:
            scoped = qs.filter(**{f"{id_field}__in": chunk})
        for row in scoped.values(*names):
            fact = _as_fact(row)
            out[fact.message_id] = fact
    return out


@dataclass(slots=True)
class _Deltas:
    """What a batch changes: counter deltas per rollup key, the facts to store or drop, the days touched."""

    hour_floor: datetime
    daily: dict[tuple[date, int, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    hourly: dict[tuple[datetime, int, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    members: dict[tuple[date, int, int, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    # the daily counters again, per author: applied to the segments the author belongs to (segments.py)
    by_member: dict[tuple[int, date, int, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    changed: list[Fact] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    days: set[date] = field(default_factory=set)

    def count(self, fact: Fact, sign: int) -> None:
        """Add (sign 1) or take back (sign −1) one message's contribution."""
        self.days.add(fact.day)
        _add(self.daily, (fact.day, fact.source_id, fact.language), _daily_contribution(fact), sign)
        if fact.hour >= self.hour_floor:
            _add(self.hourly, (fact.hour, fact.source_id, fact.language), _hourly_contribution(fact), sign)
        if fact.member_id is not None:
            key = (fact.day, fact.member_id, fact.source_id, fact.language)
            _add(self.members, key, _member_contribution(fact), sign)
            by_member = (fact.member_id, fact.day, fact.source_id, fact.language)
            _add(self.by_member, by_member, _daily_contribution(fact), sign)

    def replace(self, message_id: int, before: Fact | None, after: Fact | None) -> None:
        if before == after:
            return
        if before is not None:
            self.count(before, -1)
        if after is not None:
            self.count(after, 1)
            self.changed.append(after)
        else:
            self.gone.append(message_id)


def _write(workspace: Workspace, deltas: _Deltas) -> None:
    from communa.analytics import segments

    _apply(DailyRollup, workspace, ("day", "source_id", "language"), deltas.daily)
    segments.apply_member_deltas(workspace=workspace, deltas=deltas.by_member)
    _apply(HourlyRollup, workspace, ("hour", "source_id", "language"), deltas.hourly)
    _apply(MemberDay, workspace, ("day", "member_id", "source_id", "language"), deltas.members)
    if deltas.members:
        _prune_member_days(workspace, deltas.members)
        refresh_member_activity(workspace=workspace, member_ids={key[1] for key in deltas.members})
    if deltas.changed:
        upsert_rows(
            MessageFact,
            columns=FACT_FIELDS,
            rows=[(f.message_id, workspace.pk, *_fact_tuple(f)) for f in deltas.changed],
            conflict=["message_id"],
            update=FACT_FIELDS[2:],
        )
    if deltas.gone:
        MessageFact.objects.filter(workspace=workspace, message_id__in=deltas.gone).delete()
    mark_dirty(workspace=workspace, days=deltas.days)


def apply_batch(*, workspace: Workspace, message_ids: Sequence[int]) -> BatchResult:
    """Bring the rollups up to date for these messages: safe to run any number of times."""
    ids = _related_ids(workspace, message_ids)
    if not ids:
        return BatchResult(messages=0, changed=0, days=frozenset())
    new = _read_facts(fact_queryset(workspace), ids, "id")
    hour_floor = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=hourly_days())
    RollupState.objects.get_or_create(workspace=workspace)
    with transaction.atomic():
        RollupState.objects.select_for_update().filter(workspace=workspace).update(updated_at=timezone.now())
        old = _read_facts(MessageFact.objects.filter(workspace=workspace), ids, "message_id")
        deltas = _Deltas(hour_floor=hour_floor)
        for message_id in ids:
            deltas.replace(message_id, old.get(message_id), new.get(message_id))
        _write(workspace, deltas)
    changed = len(deltas.changed) + len(deltas.gone)
    return BatchResult(messages=len(ids), changed=changed, days=frozenset(deltas.days))


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
    upsert_rows(
        model,
        columns=["workspace_id", *key_fields, *counters],
        rows=rows,
        conflict=["workspace", *key_fields],
        expressions={name: f"{{table}}.{name} + excluded.{name}" for name in counters},
    )


def upsert_rows(
    model: type[Any],
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    expressions: dict[str, str] | None = None,
) -> None:
    """core.bulk.upsert with multi-row VALUES: one statement per few hundred rows instead of one per row
    (the worker's hot path: a batch of 1,000 messages writes ~3,000 ledger and counter rows)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    name = table(model)
    fields = [model._meta.get_field(c) for c in columns]
    column_sql = ", ".join(quote(f.column) for f in fields)
    conflict_sql = ", ".join(quote(model._meta.get_field(c).column) for c in conflict)
    sets = [f"{quote(f.column)} = excluded.{quote(f.column)}" for f in fields if f.name in update]
    sets += [
        f"{quote(model._meta.get_field(c).column)} = {e.replace('{table}', name)}"
        for c, e in (expressions or {}).items()
    ]
    tail = (
        f" ON CONFLICT ({conflict_sql}) DO UPDATE SET {', '.join(sets)}"
        if sets
        else f" ON CONFLICT ({conflict_sql}) DO NOTHING"
    )
    adapted = adapt_rows(fields, rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: a handful of placeholders however many rows (binding thousands of
            # placeholders costs more than the insert itself).
            arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
            sql = f"INSERT INTO {name} ({column_sql}) SELECT * FROM unnest({arrays}){tail}"  # noqa: S608
            for i in range(0, len(adapted), 5000):
                chunk = adapted[i : i + 5000]
                cursor.execute(sql, [[row[j] for row in chunk] for j in range(len(columns))])
            return
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per = max(1, 900 // len(columns))
        for i in range(0, len(adapted), per):
            chunk = adapted[i : i + per]
            values = ", ".join([placeholder] * len(chunk))
            sql = f"INSERT INTO {name} ({column_sql}) VALUES {values}{tail}"  # noqa: S608 (names from models)
            cursor.execute(sql, [v for row in chunk for v in row])


def _counters(model: type[Any]) -> tuple[str, ...]:
    if model is MemberDay:
        return ("messages", "replies", "peer_replies")
    return tuple(model.COUNTERS)


def _prune_member_days(workspace: Workspace, touched: dict[tuple[date, int, int, str], dict[str, int]]) -> None:
    """Delete the member-day rows a batch brought to zero (only the touched keys can be at zero)."""
    gone = [key for key, values in touched.items() if values.get("messages", 0) < 0]
    for chunk in chunked(sorted({key[1] for key in gone})):
        MemberDay.objects.filter(workspace=workspace, member_id__in=chunk, messages__lte=0).delete()


def refresh_member_activity(*, workspace: Workspace, member_ids: Iterable[int] | None = None) -> None:
    """Recompute first/last active day and totals from MemberDay (for these members, or everyone)."""
    if member_ids is None:
        _rebuild_member_activity(workspace)
        return
    md, ma = table(MemberDay), table(MemberActivity)
    # Server-side, one upsert and one delete per chunk: no rows travel to Python (the worker's hot path).
    upsert_sql = (
        f"INSERT INTO {ma} (member_id, workspace_id, first_day, last_day, active_days, messages) "  # noqa: S608
        f"SELECT member_id, workspace_id, MIN(day), MAX(day), COUNT(DISTINCT day), SUM(messages) FROM {md} "
        f"WHERE workspace_id = %s AND member_id IN ({{marks}}) GROUP BY member_id, workspace_id "
        f"ON CONFLICT (member_id) DO UPDATE SET first_day = excluded.first_day, last_day = excluded.last_day, "
        f"active_days = excluded.active_days, messages = excluded.messages"
    )
    delete_sql = (
        f"DELETE FROM {ma} WHERE workspace_id = %s AND member_id IN ({{marks}}) AND NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {md} d WHERE d.workspace_id = {ma}.workspace_id AND d.member_id = {ma}.member_id)"
    )
    with connection.cursor() as cursor:
        for chunk in chunked(sorted(member_ids), 5000 if connection.vendor == "postgresql" else 500):
            for sql in (upsert_sql, delete_sql):
                if connection.vendor == "postgresql":
                    cursor.execute(sql.replace("IN ({marks})", "= ANY(%s)"), [workspace.pk, list(chunk)])
                else:
                    cursor.execute(sql.format(marks=", ".join(["%s"] * len(chunk))), [workspace.pk, *chunk])


def _rebuild_member_activity(workspace: Workspace) -> None:
    """Everyone's activity in one INSERT ... SELECT ... GROUP BY (backfill)."""
    with transaction.atomic():
        MemberActivity.objects.filter(workspace=workspace).delete()
        rows = (
            MemberDay.objects.filter(workspace=workspace)
            .values("member_id", "workspace_id")
            .annotate(first=Min("day"), last=Max("day"), days=Count("day", distinct=True), total=Sum("messages"))
        )
        _insert_select(
            MemberActivity,
            ["member_id", "workspace_id", "first_day", "last_day", "active_days", "messages"],
            rows,
            ["member_id", "workspace_id", "first", "last", "days", "total"],
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
    """Recompute ActiveDaily for these days and the 29 after each (their WAU/MAU windows), up to today, the
    running member totals from the first of them on, and the cohorts of their weeks. Returns how many days
    were recomputed."""
    days = sorted(set(days))
    if not days:
        return 0
    last = max(today(workspace), days[-1])
    ranges = affected_ranges(days, last)
    for first, final in ranges:
        refresh_active_range(workspace=workspace, start=first, end=final, totals=False)
    refresh_totals(workspace=workspace, since=ranges[0][0])
    refresh_cohorts(workspace=workspace, weeks={week_start(d) for d in days})
    from communa.analytics import segments

    segments.refresh_active(workspace=workspace, ranges=ranges)
    return sum((final - first).days + 1 for first, final in ranges)


def affected_ranges(days: Sequence[date], last: date) -> list[tuple[date, date]]:
    """The contiguous ranges of days whose windows include one of `days` (each day and the 29 after it)."""
    ranges: list[tuple[date, date]] = []
    for day in days:
        first, final = day, min(day + timedelta(days=29), last)
        if first > final:
            continue
        if ranges and first <= ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], final))
        else:
            ranges.append((first, final))
    return ranges


# Every distinct count is kept for three dimensions: all sources and languages, per source, per language.
_DIMENSIONS = (
    (str(ALL_SOURCES), f"'{ALL_LANGUAGES}'"),  # (source_id, language) expressions
    ("source_id", f"'{ALL_LANGUAGES}'"),
    (str(ALL_SOURCES), "language"),
)
_DIMENSIONS_D = tuple(
    (s if s[0].isdigit() else f"d.{s}", lang if lang[0] == "'" else f"d.{lang}") for s, lang in _DIMENSIONS
)
_WINDOWS = {"wau": 7, "mau": 30}

Counts = dict[tuple[int, str], dict[date, dict[str, int]]]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _gap_sql(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _group(*expressions: str) -> str:
    """The GROUP BY prefix for a dimension's column expressions (constants are left out)."""
    return "".join(f"{e}, " for e in expressions if not (e.isdigit() or e.startswith("'")))


def _member_day_runs(workspace: Workspace, lo: date, hi: date) -> list[tuple[int, str, date, int, int]]:
    """Distinct (dimension, member, day) of MemberDay in [lo, hi], grouped by day and the gap to the member's
    next active day in that dimension (30 = none within 30 days): (source, language, day, gap, members)."""
    md = table(MemberDay)
    parts = " UNION ALL ".join(
        f"SELECT {s} AS s, {lang} AS l, member_id, day FROM {md} "  # noqa: S608 (fixed SQL, values bound)
        f"WHERE workspace_id = %s AND day >= %s AND day <= %s GROUP BY {_group(s, lang)}member_id, day"
        for s, lang in _DIMENSIONS
    )
    gap = _gap_sql("nxt", "day")
    sql = (
        f"SELECT s, l, day, CASE WHEN nxt IS NULL OR {gap} >= 30 THEN 30 ELSE {gap} END AS g, COUNT(*) "  # noqa: S608
        f"FROM (SELECT s, l, day, LEAD(day) OVER (PARTITION BY s, l, member_id ORDER BY day) AS nxt "
        f"FROM ({parts}) x) y GROUP BY s, l, day, g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, lo, hi] * len(_DIMENSIONS))
        return [(int(s), str(lang), _as_date(d), int(g), int(n)) for s, lang, d, g, n in cursor.fetchall()]


def _new_members(workspace: Workspace, start: date, end: date) -> list[tuple[int, str, date, int]]:
    """Members whose first active day in a dimension falls in [start, end]: (source, language, day, members).

    A member-day of the range with no earlier member-day of the same member (in the dimension): each probe
    is an index lookup on (workspace, member, day), whatever the planner thinks of the table's size."""
    md = table(MemberDay)
    parts = " UNION ALL ".join(
        f"SELECT {s} AS s, {lang} AS l, d.day AS f, COUNT(DISTINCT d.member_id) AS n FROM {md} d "  # noqa: S608
        f"WHERE d.workspace_id = %s AND d.day >= %s AND d.day <= %s AND NOT EXISTS (SELECT 1 FROM {md} e "
        f"WHERE e.workspace_id = d.workspace_id AND e.member_id = d.member_id AND e.day < d.day{same}) "
        f"GROUP BY {_group(s, lang)}d.day"
        for (s, lang), same in zip(
            _DIMENSIONS_D, ("", " AND e.source_id = d.source_id", " AND e.language = d.language"), strict=True
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(parts, [workspace.pk, start, end] * len(_DIMENSIONS))
        return [(int(s), str(lang), _as_date(d), int(n)) for s, lang, d, n in cursor.fetchall()]


def _active_counts(workspace: Workspace, start: date, end: date) -> Counts:
    """DAU/WAU/MAU and new members per dimension and day of [start, end], set-based.

    A member active on day d whose next active day (in the dimension) is d + g is in the W-day window of the
    days d .. d + min(W, g) - 1: one +1 at d and one −1 at d + min(W, g), summed over the days in order.
    The heavy part (distinct member-days and their gaps) is one SQL statement over 29 + n days of MemberDay.
    """
    lo = start - timedelta(days=29)
    deltas: dict[tuple[int, str], dict[str, dict[date, int]]] = defaultdict(
        lambda: {name: defaultdict(int) for name in ("dau", *_WINDOWS)}
    )
    for s, lang, day, gap, n in _member_day_runs(workspace, lo, end):
        dim = deltas[(s, lang)]
        dim["dau"][day] += n
        for name, span in _WINDOWS.items():
            dim[name][day] += n
            dim[name][day + timedelta(days=min(span, gap))] -= n
    counts: Counts = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(("dau", "wau", "mau", "new"), 0)))
    for key, dim in deltas.items():
        running = dict.fromkeys(_WINDOWS, 0)
        day = lo
        while day <= end:
            for name in _WINDOWS:
                running[name] += dim[name].get(day, 0)
            if day >= start and (running["mau"] or dim["dau"].get(day)):
                row = counts[key][day]
                row["dau"] = dim["dau"].get(day, 0)
                row.update(running)
            day += timedelta(days=1)
    for s, lang, day, n in _new_members(workspace, start, end):
        counts[(s, lang)][day]["new"] = n
    return counts


def refresh_active_range(*, workspace: Workspace, start: date, end: date, totals: bool = True) -> int:
    """Recompute ActiveDaily for exactly the local days start..end (then, unless told not to, the totals)."""
    counts = _active_counts(workspace, start, end)
    rows = [
        (workspace.pk, day, s, lang, c["dau"], c["wau"], c["mau"], c["new"], 0)
        for (s, lang), by_day in counts.items()
        for day, c in by_day.items()
    ]
    ActiveDaily.objects.filter(workspace=workspace, day__gte=start, day__lte=end).delete()
    upsert(
        ActiveDaily,
        columns=["workspace_id", "day", "source_id", "language", "dau", "wau", "mau", "new_members", "total_members"],
        rows=rows,
        conflict=["workspace", "day", "source_id", "language"],
        update=["dau", "wau", "mau", "new_members"],
    )
    if totals:
        refresh_totals(workspace=workspace, since=start)
    return (end - start).days + 1


def refresh_totals(*, workspace: Workspace, since: date) -> None:
    """total_members = running sum of new_members per (source, language) dimension, from `since` on."""
    base: dict[tuple[int, str], int] = defaultdict(int)
    for row in (
        ActiveDaily.objects.filter(workspace=workspace, day__lt=since)
        .values("source_id", "language")
        .annotate(n=Sum("new_members"))
    ):
        base[(row["source_id"], row["language"])] = row["n"] or 0
    changed = []
    for pk, s, lang, new, total in (
        ActiveDaily.objects.filter(workspace=workspace, day__gte=since)
        .order_by("day")
        .values_list("pk", "source_id", "language", "new_members", "total_members")
    ):
        base[(s, lang)] += new
        if base[(s, lang)] != total:
            changed.append(ActiveDaily(pk=pk, total_members=base[(s, lang)]))
    ActiveDaily.objects.bulk_update(changed, ["total_members"], batch_size=500)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_sql(column: str) -> str:
    """The Monday of a date column's week."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('week', CAST({column} AS timestamp)) AS date)"
    return f"date({column}, 'weekday 0', '-6 days')"


def refresh_cohorts(*, workspace: Workspace, weeks: Iterable[date]) -> None:
    """Recompute the retention rows of these activity weeks (every cohort's count of members active then),
    one grouped statement per contiguous run of weeks."""
    wanted = sorted(set(weeks))
    if not wanted:
        return
    md, ma = table(MemberDay), table(MemberActivity)
    sql = (
        f"SELECT {_week_sql('d.day')} AS w, {_week_sql('a.first_day')} AS c, COUNT(DISTINCT d.member_id) "  # noqa: S608
        f"FROM {md} d JOIN {ma} a ON a.member_id = d.member_id AND a.workspace_id = d.workspace_id "
        f"WHERE d.workspace_id = %s AND d.day >= %s AND d.day < %s GROUP BY 1, 2"
    )
    for first, final in _week_runs(wanted):
        with connection.cursor() as cursor:
            cursor.execute(sql, [workspace.pk, first, final + timedelta(days=7)])
            rows = [(_as_date(w), _as_date(c), int(n)) for w, c, n in cursor.fetchall()]
        CohortWeek.objects.filter(workspace=workspace, week__gte=first, week__lte=final).delete()
        CohortWeek.objects.bulk_create(
            [CohortWeek(workspace=workspace, cohort=c, week=w, members=n) for w, c, n in rows], batch_size=500
        )


def _week_runs(weeks: Sequence[date], longest: int = 13) -> list[tuple[date, date]]:
    """Consecutive Mondays grouped into runs of at most `longest` weeks."""
    runs: list[tuple[date, date]] = []
    for week in weeks:
        if runs and week == runs[-1][1] + timedelta(days=7) and (week - runs[-1][0]).days < 7 * longest:
            runs[-1] = (runs[-1][0], week)
        else:
            runs.append((week, week))
    return runs


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


def refresh_all_active(*, workspace: Workspace, start: date, end: date, step: int = 31) -> None:
    """Distinct counts for a whole range (after a rebuild), `step` days per statement; then the totals, the
    cohorts of the range's weeks, and topics marked to do."""
    first = start
    while first <= end:
        final = min(end, first + timedelta(days=step - 1))
        refresh_active_range(workspace=workspace, start=first, end=final, totals=False)
        first = final + timedelta(days=1)
    refresh_totals(workspace=workspace, since=start)
    weeks = {week_start(start + timedelta(days=i)) for i in range(0, (end - start).days + 1, 7)} | {week_start(end)}
    refresh_cohorts(workspace=workspace, weeks=weeks)
    DirtyDay.objects.filter(workspace=workspace, kind=DirtyDay.Kind.ACTIVE, day__gte=start, day__lte=end).delete()
    mark_dirty(workspace=workspace, days=_days(start, end), kinds=("topics",))


def month_chunks(start: date, end: date) -> list[tuple[date, date]]:
    chunks = []
    day = start
    while day <= end:
        nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        chunks.append((day, min(end, nxt - timedelta(days=1))))
        day = nxt
    return chunks


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


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
