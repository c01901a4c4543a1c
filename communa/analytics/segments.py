"""Segment rollups: the figures of saved member segments, precomputed like the workspace's own.

A segment (members/segments.py: a saved member filter) stands for the people it matches *now*; its figures are
the activity of those people over the whole history ("what do our beta testers do"). Computing that on the fly
means joining the ledger with the live filter on every chart; instead, for the first `ANALYTICS_SEGMENTS_MAX`
segments of each workspace (oldest first):

- **snapshot** (`SegmentMember`): the segment's members, taken when it is built and compared with the live
  filter (in SQL) every `ANALYTICS_SEGMENT_REFRESH` seconds (a dynamic filter such as "seen in the last 30 days" moves
  people in and out). A member who joins adds their whole history to the segment's counters, one who leaves
  takes it back: one grouped statement over the ledger for the changed members. A change of more than
  `ANALYTICS_SEGMENT_REBUILD_SHARE` of the snapshot rebuilds instead.
- **counters** (`SegmentDaily`): DailyRollup's counters for the segment's members per (day, source, language).
  The worker keeps them current: every batch it applies to the workspace's rollups is also applied, with the
  same signed deltas, to the segments its authors belong to (rollups._write → `apply_member_deltas`).
- **distinct counts** (`SegmentActive`): DAU/WAU/MAU, new and total members of the segment, recomputed with the
  workspace's for the dirty days (rollups.refresh_active → `refresh_active`).
- **rebuild**: when a segment is created or its definition changes (compared with the definition the snapshot
  was taken with), the worker rebuilds it: snapshot, then the counters month by month from the ledger, then the
  distinct counts; `progress_done / progress_total` is shown on the dashboards while it runs. Each step holds
  the workspace's rollup lock, so a batch applied meanwhile is counted exactly once.

Segments beyond the limit, and a segment whose first build has not finished, are answered from the ledger
joined with the live filter (selectors._fact_rows), which is exact but slower.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.analytics.models import (
    MemberActivity,
    MemberDay,
    MessageFact,
    RollupState,
    SegmentActive,
    SegmentDaily,
    SegmentMember,
    SegmentRollup,
)
from communa.core.bulk import chunked, select_in, table
from communa.members.models import Member, Segment
from communa.members.selectors import members_in_segment

logger = logging.getLogger(__name__)

Status = SegmentRollup.Status
LIVE = (Status.BUILDING, Status.READY)  # states whose snapshot and counters the worker keeps current
STALE_BUILD = timedelta(hours=2)  # a build claimed this long ago by a worker that died is claimed again
REBUILD_MIN = 1000  # a membership change of up to this many people is always applied, never rebuilt

# Each counter of SegmentDaily as a condition on a MessageFact row `f` (the same definitions as rollups.rebuild).
COUNTER_SQL: dict[str, str] = {
    "messages": "f.counted",
    "staff_messages": "f.staff AND f.member_id IS NOT NULL AND NOT f.reaction",
    "reactions": "f.reaction AND NOT f.staff",
    "threads": "f.counted AND f.thread_start",
    "replies": "f.counted AND f.reply",
    "peer_replies": "f.counted AND f.peer_reply",
    "questions": "f.counted AND f.question",
    "positive": "f.counted AND f.sentiment = 'positive'",
    "neutral": "f.counted AND f.sentiment = 'neutral'",
    "negative": "f.counted AND f.sentiment = 'negative'",
    "toxic": "f.counted AND f.toxic",
    "spam": "f.spam",
}
assert tuple(COUNTER_SQL) == SegmentDaily.COUNTERS


def segments_max() -> int:
    return int(getattr(settings, "ANALYTICS_SEGMENTS_MAX", 20))


def refresh_seconds() -> int:
    return int(getattr(settings, "ANALYTICS_SEGMENT_REFRESH", 900))


def rebuild_share() -> float:
    return float(getattr(settings, "ANALYTICS_SEGMENT_REBUILD_SHARE", 0.2))


# ---- which segments are tracked ------------------------------------------------------------------------


def tracked_segments(workspace: Workspace) -> list[Segment]:
    """The segments of a workspace whose figures are precomputed: the first ANALYTICS_SEGMENTS_MAX, oldest first."""
    return list(Segment.objects.filter(workspace=workspace).order_by("pk")[: segments_max()])


def sync(*, workspace: Workspace) -> list[SegmentRollup]:
    """Track the workspace's first segments, stop tracking the others, and mark pending every tracked segment
    whose definition changed since its snapshot. Returns the rollups that need a build."""
    segments = tracked_segments(workspace)
    wanted = {s.pk: s for s in segments}
    SegmentRollup.objects.filter(workspace=workspace).exclude(segment_id__in=list(wanted)).delete()
    existing = {r.segment_id: r for r in SegmentRollup.objects.filter(workspace=workspace)}
    for segment in segments:
        rollup = existing.get(segment.pk)
        if rollup is None:
            # get_or_create: the segment.saved task and the periodic run may both start tracking it.
            existing[segment.pk], _ = SegmentRollup.objects.get_or_create(
                segment=segment,
                defaults={"workspace": workspace, "status": Status.PENDING, "definition": segment.filter},
            )
        elif rollup.definition != segment.filter and rollup.status not in (Status.PENDING, Status.BUILDING):
            # A new definition: rebuilt from scratch. A build running on the old one is left alone: it notices at
            # its end and marks the rollup pending (marking it now would let a second build start beside it).
            SegmentRollup.objects.filter(pk=rollup.pk).update(status=Status.PENDING, definition=segment.filter)
            rollup.status, rollup.definition = Status.PENDING, segment.filter
    return [r for r in existing.values() if r.status == Status.PENDING]


def apply_changes(*, workspace: Workspace) -> int:
    """A segment of the workspace was saved or deleted (members' `segment.saved` / `segment.deleted`): start
    tracking it, rebuild it if its definition changed, stop tracking what left the first
    ANALYTICS_SEGMENTS_MAX (a deleted segment's rollup went with it; the next one in line takes its place).
    Returns how many segments were built here (one already being built elsewhere is left to that build)."""
    built = 0
    for rollup in sync(workspace=workspace):
        try:
            done = build(rollup)
        except Exception:  # noqa: BLE001 — marked failed and logged by build(); the others get their turn
            done = False
        built += int(done)
    return built


def due(*, now: Any = None) -> bool:
    """Is there segment work for the worker? Cheap: reads the small segment tables only."""
    now = now or timezone.now()
    rollups = {r.segment_id: r for r in SegmentRollup.objects.all()}
    horizon = now - timedelta(seconds=refresh_seconds())
    for r in rollups.values():
        if r.status == Status.PENDING:
            return True
        if r.status == Status.BUILDING and r.started_at is not None and r.started_at < now - STALE_BUILD:
            return True
        if r.status == Status.READY and (r.membership_at is None or r.membership_at < horizon):
            return True
    tracked: dict[int, Any] = {}
    per_workspace: dict[int, int] = defaultdict(int)
    for pk, ws_id, definition in Segment.objects.order_by("pk").values_list("pk", "workspace_id", "filter"):
        per_workspace[ws_id] += 1
        if per_workspace[ws_id] <= segments_max():
            tracked[pk] = definition
    if set(tracked) != set(rollups):
        return True  # a segment to start tracking, or one to drop
    return any(rollups[pk].definition != definition for pk, definition in tracked.items())


def run_due(*, builds: int = 1) -> int:
    """The periodic segment work: track new segments, rebuild changed ones (at most `builds` per run),
    compare the snapshots that are due with the live filters. Returns how many segments were worked on."""
    done = 0
    horizon = timezone.now() - timedelta(seconds=refresh_seconds())
    workspace_ids = set(Segment.objects.values_list("workspace_id", flat=True)) | set(
        SegmentRollup.objects.values_list("workspace_id", flat=True)
    )
    for workspace in Workspace.objects.filter(pk__in=workspace_ids).order_by("pk"):
        sync(workspace=workspace)
        SegmentRollup.objects.filter(
            workspace=workspace, status=Status.BUILDING, started_at__lt=timezone.now() - STALE_BUILD
        ).update(status=Status.PENDING)
        for rollup in SegmentRollup.objects.filter(workspace=workspace, status=Status.PENDING).order_by("pk"):
            if builds <= 0:
                break
            try:
                built = build(rollup)
            except Exception:  # noqa: BLE001 — marked failed and logged by build(); the others get their turn
                built = True
            if built:
                builds -= 1
                done += 1
        for rollup in SegmentRollup.objects.filter(workspace=workspace, status=Status.READY).order_by("pk"):
            if rollup.membership_at is None or rollup.membership_at < horizon:
                try:
                    refresh_membership(rollup)
                except Exception:
                    logger.exception("segment rollup %s: membership refresh failed", rollup.pk)
                done += 1
    return done


# ---- build -------------------------------------------------------------------------------------------


Progress = Callable[[int, int], None]


def _lock(workspace: Workspace) -> None:
    """Inside a transaction: serialise with the worker's ledger updates of this workspace (rollups.apply_batch)."""
    RollupState.objects.get_or_create(workspace=workspace)
    RollupState.objects.select_for_update().filter(workspace=workspace).update(updated_at=timezone.now())


def _claim(rollup: SegmentRollup) -> bool:
    """Take a pending build (two workers never build the same segment)."""
    return bool(
        SegmentRollup.objects.filter(pk=rollup.pk, status=Status.PENDING).update(
            status=Status.BUILDING, started_at=timezone.now(), progress_done=0, progress_total=0, error=""
        )
    )


def build(rollup: SegmentRollup, *, progress: Progress | None = None, force: bool = False) -> bool:
    """Rebuild a segment's snapshot, counters and distinct counts. Returns False if another worker has it
    (or, without `force`, if it is not pending)."""
    if force:
        SegmentRollup.objects.filter(pk=rollup.pk).update(status=Status.PENDING)
    if not _claim(rollup):
        return False
    rollup.refresh_from_db()
    workspace = rollup.workspace
    try:
        _build(workspace, rollup, progress)
    except Exception as exc:
        logger.exception("segment rollup %s: build failed", rollup.pk)
        SegmentRollup.objects.filter(pk=rollup.pk, status=Status.BUILDING).update(
            status=Status.FAILED, error=str(exc)[:500]
        )
        raise
    return True


def _build(workspace: Workspace, rollup: SegmentRollup, progress: Progress | None) -> None:
    from communa.analytics.rollups import month_chunks, today

    segment = Segment.objects.get(pk=rollup.segment_id, workspace=workspace)
    definition = segment.filter
    span = MessageFact.objects.filter(workspace=workspace).aggregate(lo=Min("day"), hi=Max("day"))
    months = month_chunks(span["lo"], span["hi"]) if span["lo"] is not None else []
    total = len(months) + 2
    _progress(rollup, 0, total, progress)
    with transaction.atomic():
        _lock(workspace)
        members = _take_snapshot(workspace, rollup, segment)
        SegmentDaily.objects.filter(rollup=rollup).delete()
        SegmentActive.objects.filter(rollup=rollup).delete()
        SegmentRollup.objects.filter(pk=rollup.pk).update(members=members, membership_at=timezone.now())
    _progress(rollup, 1, total, progress)
    for i, (first, last) in enumerate(months):
        with transaction.atomic():
            _lock(workspace)
            SegmentDaily.objects.filter(rollup=rollup, day__gte=first, day__lte=last).delete()
            _insert_counters(workspace, rollup, first, last)
        _progress(rollup, 2 + i, total, progress)
    if span["lo"] is not None:
        refresh_rollup_active(workspace, rollup, span["lo"], max(span["hi"], today(workspace)), step=92)
    _analyze()
    current = Segment.objects.filter(pk=segment.pk).values_list("filter", flat=True).first()
    final = Status.READY if current == definition else Status.PENDING  # redefined meanwhile: build again
    SegmentRollup.objects.filter(pk=rollup.pk, status=Status.BUILDING).update(
        status=final,
        definition=definition if final == Status.READY else current,
        built_at=timezone.now(),
        progress_done=total,
        progress_total=total,
    )
    if progress is not None:
        progress(total, total)


def _progress(rollup: SegmentRollup, done: int, total: int, progress: Progress | None) -> None:
    SegmentRollup.objects.filter(pk=rollup.pk).update(progress_done=done, progress_total=total)
    if progress is not None:
        progress(done, total)


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (SegmentMember, SegmentDaily):
            cursor.execute(f"ANALYZE {table(model)}")


def _live_members(workspace: Workspace, segment: Segment) -> QuerySet[Any]:
    return members_in_segment(workspace, segment).order_by().values("pk")


def _take_snapshot(workspace: Workspace, rollup: SegmentRollup, segment: Segment) -> int:
    """Replace the snapshot with the segment's members now, server-side. Returns how many."""
    SegmentMember.objects.filter(rollup=rollup).delete()
    sql, params = _live_members(workspace, segment).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(SegmentMember)} (workspace_id, rollup_id, member_id) "  # noqa: S608
            f"SELECT %s, %s, m.id FROM {table(Member)} m WHERE m.workspace_id = %s AND m.id IN ({sql})",
            [workspace.pk, rollup.pk, workspace.pk, *params],
        )
        return int(cursor.rowcount or 0)


def _sums(sign: int = 1) -> str:
    factor = "" if sign == 1 else "-"
    return ", ".join(f"{factor}SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)" for cond in COUNTER_SQL.values())


def _insert_counters(workspace: Workspace, rollup: SegmentRollup, first: date, last: date) -> None:
    """SegmentDaily rows of days first..last from the ledger joined with the snapshot (one statement)."""
    cols = ", ".join(SegmentDaily.COUNTERS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(SegmentDaily)} (workspace_id, rollup_id, day, source_id, language, {cols}) "  # noqa: S608
            f"SELECT %s, %s, f.day, f.source_id, f.language, {_sums()} FROM {table(MessageFact)} f "
            f"JOIN {table(SegmentMember)} s ON s.member_id = f.member_id AND s.rollup_id = %s "
            f"WHERE f.workspace_id = %s AND f.day >= %s AND f.day <= %s GROUP BY f.day, f.source_id, f.language",
            [workspace.pk, rollup.pk, rollup.pk, workspace.pk, first, last],
        )


# ---- membership changes --------------------------------------------------------------------------------


def refresh_membership(rollup: SegmentRollup) -> tuple[int, int]:
    """Compare the snapshot with the live filter; count the history of who joined, take back who left.
    Returns (joined, left). A large change rebuilds the segment instead (returns the counts all the same).

    The comparison is two set differences in the database (`_changed_ids`); only the ids that changed come back,
    at most one more than the rebuild threshold, so a segment of a million members costs no million-id lists in
    the worker. It runs before taking the workspace's rollup lock (it is the slow part: the live filter), and
    applies only if the snapshot is still the one compared (same `membership_at`, still ready)."""
    workspace = rollup.workspace
    segment = Segment.objects.filter(pk=rollup.segment_id, workspace=workspace).first()
    if segment is None:
        return 0, 0
    if segment.filter != rollup.definition:
        sync(workspace=workspace)
        return 0, 0
    seen = SegmentRollup.objects.filter(pk=rollup.pk, status=Status.READY).values("members", "membership_at").first()
    if seen is None:
        return 0, 0
    limit = int(max(REBUILD_MIN, rebuild_share() * max(seen["members"], 1)))
    joined, left = _changed_ids(workspace, rollup, segment, limit=limit + 1)
    rebuild = len(joined) + len(left) > limit
    # The counts to report: a rebuild's lists stop at the threshold, so it counts them.
    counts = _changed_counts(workspace, rollup, segment) if rebuild else (len(joined), len(left))
    with transaction.atomic():
        _lock(workspace)  # two workers comparing the same snapshot: the second finds it already moved on
        unchanged = SegmentRollup.objects.filter(
            pk=rollup.pk, status=Status.READY, membership_at=seen["membership_at"]
        ).exists()
        if not unchanged:
            return 0, 0
        if not joined and not left:
            SegmentRollup.objects.filter(pk=rollup.pk).update(membership_at=timezone.now())
            return 0, 0
        if rebuild:
            SegmentRollup.objects.filter(pk=rollup.pk).update(status=Status.PENDING)
        else:
            _apply_membership(workspace, rollup, joined, left, members=seen["members"] + len(joined) - len(left))
    if rebuild:
        build(rollup)
    return counts


def _differences(workspace: Workspace, rollup: SegmentRollup, segment: Segment) -> tuple[str, str, list[Any]]:
    """Two statements' FROM parts: the live members not in the snapshot, and the snapshot's not in the live
    filter (EXCEPT on both databases: a hashed or sorted set operation, never a per-row lookup), with the
    parameters each takes (the live filter's, then the rollup's or the other way round)."""
    live, params = _live_members(workspace, segment).query.sql_with_params()
    snapshot = f"SELECT s.member_id FROM {table(SegmentMember)} s WHERE s.rollup_id = %s"  # noqa: S608
    # SQLite takes no parentheses around the members of a compound SELECT: both sides are written bare.
    return f"({live} EXCEPT {snapshot}) d", f"({snapshot} EXCEPT {live}) d", list(params)


def _changed_ids(
    workspace: Workspace, rollup: SegmentRollup, segment: Segment, *, limit: int
) -> tuple[list[int], list[int]]:
    """(joined, left): member ids in the live filter and not in the snapshot, and the other way round, sorted,
    at most `limit` of each."""
    joined_from, left_from, params = _differences(workspace, rollup, segment)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {joined_from} LIMIT %s", [*params, rollup.pk, limit])  # noqa: S608
        joined = sorted(int(row[0]) for row in cursor.fetchall())
        cursor.execute(f"SELECT * FROM {left_from} LIMIT %s", [rollup.pk, *params, limit])  # noqa: S608
        left = sorted(int(row[0]) for row in cursor.fetchall())
    return joined, left


def _changed_counts(workspace: Workspace, rollup: SegmentRollup, segment: Segment) -> tuple[int, int]:
    joined_from, left_from, params = _differences(workspace, rollup, segment)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {joined_from}", [*params, rollup.pk])  # noqa: S608
        joined = int(cursor.fetchone()[0])
        cursor.execute(f"SELECT COUNT(*) FROM {left_from}", [rollup.pk, *params])  # noqa: S608
        left = int(cursor.fetchone()[0])
    return joined, left


def _apply_membership(
    workspace: Workspace, rollup: SegmentRollup, joined: Sequence[int], left: Sequence[int], *, members: int
) -> None:
    """Inside the locked transaction: move the snapshot and the counters by who joined and who left."""
    from communa.analytics.rollups import affected_ranges, today

    for chunk in chunked(left, 5000):
        SegmentMember.objects.filter(rollup=rollup, member_id__in=chunk).delete()
    SegmentMember.objects.bulk_create(
        [SegmentMember(workspace=workspace, rollup=rollup, member_id=pk) for pk in joined], batch_size=1000
    )
    _apply_history(workspace, rollup, joined, 1)
    _apply_history(workspace, rollup, left, -1)
    _drop_zero_rows(rollup)
    SegmentRollup.objects.filter(pk=rollup.pk).update(members=members, membership_at=timezone.now())
    days = sorted(
        {
            d
            for chunk in chunked([*joined, *left], 5000)
            for d in MemberDay.objects.filter(workspace=workspace, member_id__in=chunk)
            .values_list("day", flat=True)
            .distinct()
        }
    )
    if days:
        last = max(today(workspace), days[-1])
        for first, final in affected_ranges(days, last):
            refresh_rollup_active(workspace, rollup, first, final, totals=False)
        refresh_totals(workspace, rollup, since=days[0])


def _apply_history(workspace: Workspace, rollup: SegmentRollup, member_ids: Sequence[int], sign: int) -> None:
    """Add (sign 1) or take back (−1) these members' whole history to the segment's counters."""
    if not member_ids:
        return
    sd, cols = table(SegmentDaily), ", ".join(SegmentDaily.COUNTERS)
    sets = ", ".join(f"{c} = {sd}.{c} + excluded.{c}" for c in SegmentDaily.COUNTERS)
    sql = (
        f"INSERT INTO {sd} (workspace_id, rollup_id, day, source_id, language, {cols}) "  # noqa: S608
        f"SELECT %s, %s, f.day, f.source_id, f.language, {_sums(sign)} FROM {table(MessageFact)} f "
        f"WHERE f.workspace_id = %s AND f.member_id IN ({{marks}}) GROUP BY f.day, f.source_id, f.language "
        f"ON CONFLICT (rollup_id, day, source_id, language) DO UPDATE SET {sets}"
    )
    _execute_in(sql, [workspace.pk, rollup.pk, workspace.pk], member_ids)


def _execute_in(sql: str, params: Sequence[Any], values: Sequence[Any]) -> None:
    """Run a statement whose IN list is written `{marks}`, once per chunk of values (an array on PostgreSQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for chunk in chunked(values, 5000):
                cursor.execute(sql.replace("IN ({marks})", "= ANY(%s)"), [*params, list(chunk)])
            return
        for chunk in chunked(values, 500):
            cursor.execute(sql.format(marks=", ".join(["%s"] * len(chunk))), [*params, *chunk])


def _drop_zero_rows(rollup: SegmentRollup) -> None:
    SegmentDaily.objects.filter(rollup=rollup, messages=0, staff_messages=0, reactions=0, spam=0).delete()


# ---- the worker path ----------------------------------------------------------------------------------

MemberDeltas = dict[tuple[int, date, int, str], dict[str, int]]  # (member, day, source, language) → counters


def apply_member_deltas(*, workspace: Workspace, deltas: MemberDeltas) -> int:
    """Inside the worker's locked transaction: add a batch's signed per-member counter deltas to the segments
    those members belong to. Returns how many segment rows were touched."""
    from communa.analytics.rollups import upsert_rows

    member_ids = sorted({key[0] for key, values in deltas.items() if any(values.values())})
    if not member_ids:
        return 0
    sm, sr = table(SegmentMember), table(SegmentRollup)
    memberships = select_in(
        f"SELECT s.member_id, s.rollup_id FROM {sm} s JOIN {sr} r ON r.id = s.rollup_id "  # noqa: S608
        f"WHERE s.workspace_id = %s AND r.status IN ('building', 'ready') AND s.member_id IN ({{marks}})",
        params=[workspace.pk],
        values=member_ids,
    )
    if not memberships:
        return 0
    rollups_of: dict[int, list[int]] = defaultdict(list)
    for member_id, rollup_id in memberships:
        rollups_of[int(member_id)].append(int(rollup_id))
    summed: dict[tuple[int, date, int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (member_id, day, source_id, language), values in deltas.items():
        for rollup_id in rollups_of.get(member_id, ()):
            bucket = summed[(rollup_id, day, source_id, language)]
            for name, value in values.items():
                bucket[name] += value
    rows = [
        (workspace.pk, *key, *[values.get(name, 0) for name in SegmentDaily.COUNTERS])
        for key, values in summed.items()
        if any(values.values())
    ]
    upsert_rows(
        SegmentDaily,
        columns=["workspace_id", "rollup_id", "day", "source_id", "language", *SegmentDaily.COUNTERS],
        rows=rows,
        conflict=["rollup", "day", "source_id", "language"],
        expressions={name: f"{{table}}.{name} + excluded.{name}" for name in SegmentDaily.COUNTERS},
    )
    return len(rows)


# ---- distinct counts ----------------------------------------------------------------------------------


def refresh_active(*, workspace: Workspace, ranges: Iterable[tuple[date, date]]) -> None:
    """Recompute the distinct counts of every ready segment of the workspace for these day ranges (the
    periodic refresh of dirty days, after the workspace's own), then their running totals."""
    ranges = list(ranges)
    if not ranges:
        return
    for rollup in SegmentRollup.objects.filter(workspace=workspace, status=Status.READY):
        for first, final in ranges:
            refresh_rollup_active(workspace, rollup, first, final, totals=False)
        refresh_totals(workspace, rollup, since=ranges[0][0])


def _gap_sql(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _counts(workspace: Workspace, rollup: SegmentRollup, start: date, end: date) -> dict[date, dict[str, int]]:
    """DAU/WAU/MAU and new members of the segment per day of [start, end] (the method of rollups._active_counts
    for one dimension: distinct member-days with the gap to each member's next active day, then running sums)."""
    lo = start - timedelta(days=29)
    md, sm, ma = table(MemberDay), table(SegmentMember), table(MemberActivity)
    gap = _gap_sql("nxt", "day")
    sql = (
        f"SELECT day, CASE WHEN nxt IS NULL OR {gap} >= 30 THEN 30 ELSE {gap} END AS g, COUNT(*) FROM ("  # noqa: S608
        f"SELECT day, LEAD(day) OVER (PARTITION BY member_id ORDER BY day) AS nxt FROM ("
        f"SELECT d.member_id, d.day FROM {md} d JOIN {sm} s ON s.member_id = d.member_id AND s.rollup_id = %s "
        f"WHERE d.workspace_id = %s AND d.day >= %s AND d.day <= %s GROUP BY d.member_id, d.day) x) y GROUP BY day, g"
    )
    dau: dict[date, int] = defaultdict(int)
    moves: dict[str, dict[date, int]] = {"wau": defaultdict(int), "mau": defaultdict(int)}
    with connection.cursor() as cursor:
        cursor.execute(sql, [rollup.pk, workspace.pk, lo, end])
        for d, g, n in cursor.fetchall():
            day = _as_date(d)
            dau[day] += int(n)
            for name, span in (("wau", 7), ("mau", 30)):
                moves[name][day] += int(n)
                moves[name][day + timedelta(days=min(span, int(g)))] -= int(n)
        cursor.execute(
            f"SELECT a.first_day, COUNT(*) FROM {ma} a JOIN {sm} s ON s.member_id = a.member_id "  # noqa: S608
            f"AND s.rollup_id = %s WHERE a.workspace_id = %s AND a.first_day >= %s AND a.first_day <= %s "
            f"GROUP BY a.first_day",
            [rollup.pk, workspace.pk, start, end],
        )
        new = {_as_date(d): int(n) for d, n in cursor.fetchall()}
    out: dict[date, dict[str, int]] = {}
    running = {"wau": 0, "mau": 0}
    day = lo
    while day <= end:
        for name in running:
            running[name] += moves[name].get(day, 0)
        if day >= start and (running["mau"] or dau.get(day) or new.get(day)):
            out[day] = {"dau": dau.get(day, 0), **running, "new_members": new.get(day, 0)}
        day += timedelta(days=1)
    return out


def refresh_rollup_active(
    workspace: Workspace, rollup: SegmentRollup, start: date, end: date, *, step: int = 31, totals: bool = True
) -> None:
    """Recompute SegmentActive for the days start..end, `step` days per statement (then the totals)."""
    first = start
    while first <= end:
        final = min(end, first + timedelta(days=step - 1))
        counts = _counts(workspace, rollup, first, final)
        with transaction.atomic():
            SegmentActive.objects.filter(rollup=rollup, day__gte=first, day__lte=final).delete()
            SegmentActive.objects.bulk_create(
                [
                    SegmentActive(workspace=workspace, rollup=rollup, day=day, total_members=0, **values)
                    for day, values in counts.items()
                ],
                batch_size=500,
            )
        first = final + timedelta(days=1)
    if totals:
        refresh_totals(workspace, rollup, since=start)


def refresh_totals(workspace: Workspace, rollup: SegmentRollup, *, since: date) -> None:
    """total_members = segment members whose first active day is on or before the day."""
    ma, sm = table(MemberActivity), table(SegmentMember)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.first_day, COUNT(*) FROM {ma} a JOIN {sm} s ON s.member_id = a.member_id "  # noqa: S608
            f"AND s.rollup_id = %s WHERE a.workspace_id = %s GROUP BY a.first_day",
            [rollup.pk, workspace.pk],
        )
        firsts = sorted((_as_date(d), int(n)) for d, n in cursor.fetchall())
    changed = []
    total, i = 0, 0
    for pk, day, current in (
        SegmentActive.objects.filter(rollup=rollup, day__gte=since)
        .order_by("day")
        .values_list("pk", "day", "total_members")
    ):
        while i < len(firsts) and firsts[i][0] <= day:
            total += firsts[i][1]
            i += 1
        if total != current:
            changed.append(SegmentActive(pk=pk, total_members=total))
    SegmentActive.objects.bulk_update(changed, ["total_members"], batch_size=500)


# ---- reads --------------------------------------------------------------------------------------------


def rollup_of(workspace: Workspace, segment_id: int) -> SegmentRollup | None:
    """The tracked state of one of the workspace's segments (None: not tracked)."""
    return SegmentRollup.objects.filter(workspace=workspace, segment_id=segment_id).first()


def snapshot_ids(rollup: SegmentRollup) -> QuerySet[Any]:
    return SegmentMember.objects.filter(workspace_id=rollup.workspace_id, rollup=rollup).values("member_id")
