"""`communa analytics backfill [--workspace SLUG] [--since DATE] [--until DATE] [--anomalies]`: rebuild the
rollups from the messages, month by month, with a progress bar; then distinct counts, topics, the precomputed
segments and (with --anomalies) anomaly detection over the hourly window. Safe to run again: it recomputes,
never adds.

`communa analytics segments [--workspace SLUG] [--rebuild]`: track the workspaces' segments, build the new and
changed ones (all of them with --rebuild) with a progress bar, and compare the others' member snapshots with
their filters (what the worker does every minute, in the foreground)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from communa.accounts.models import Workspace
from communa.analytics import anomalies, rollups, segments, topics
from communa.analytics.models import DailyRollup, DirtyDay, MemberDay, MessageFact, RollupState, SegmentRollup
from communa.analytics.rollups import month_chunks
from communa.core.bulk import table
from communa.stream.models import Message


class Command(BaseCommand):
    help = "Analytics maintenance: `backfill` rebuilds the rollups from the stored messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["backfill", "segments"])
        parser.add_argument("--workspace", help="workspace slug (default: all)")
        parser.add_argument("--since", type=date.fromisoformat, help="first local day (default: first message)")
        parser.add_argument("--until", type=date.fromisoformat, help="last local day (default: last message)")
        parser.add_argument("--anomalies", action="store_true", help="also detect anomalies in the hourly window")
        parser.add_argument("--no-topics", action="store_true", help="skip topic extraction")
        parser.add_argument("--rebuild", action="store_true", help="segments: rebuild every tracked segment")

    def handle(self, *args: Any, **options: Any) -> None:
        workspaces = Workspace.objects.order_by("pk")
        if options["workspace"]:
            workspaces = workspaces.filter(slug=options["workspace"])
            if not workspaces.exists():
                raise CommandError(f"no workspace {options['workspace']!r}")
        if options["action"] == "segments":
            for workspace in workspaces:
                done = build_segments(workspace, every=options["rebuild"], quiet=options["verbosity"] == 0)
                self.stdout.write(f"{workspace.slug}: {done} segment(s) built")
            return
        for workspace in workspaces:
            backfill(
                workspace,
                since=options["since"],
                until=options["until"],
                with_topics=not options["no_topics"],
                with_anomalies=options["anomalies"],
                quiet=options["verbosity"] == 0,
            )


def _analyze() -> None:
    """Fresh planner statistics after a bulk rebuild (PostgreSQL): the distinct-count statements that follow
    are planned against millions of new rows."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (MessageFact, DailyRollup, MemberDay):
            cursor.execute(f"ANALYZE {table(model)}")


# Months are rebuilt together up to about this many messages per statement: each statement scans the message
# table and hashes parents and signals once, a fixed cost that month-sized statements paid 25 times over two
# years (10M messages: 20.7 s for one month, 50.1 s for six, on the benchmark machine).
CHUNK_MESSAGES = 2_000_000
# Days of distinct counts per statement: each reads 29 days before its first day too (their WAU/MAU windows).
ACTIVE_STEP = 92


def message_chunks(workspace: Workspace, start: date, end: date) -> list[tuple[date, date, int]]:
    """Whole months of start..end grouped into runs of about CHUNK_MESSAGES messages: (first, last, messages)."""
    lo, hi = rollups.day_bounds(start, end, rollups.workspace_tz(workspace))
    per_month: dict[tuple[int, int], int] = {}
    for created in (
        Message.objects.filter(workspace=workspace, created_at__gte=lo, created_at__lt=hi)
        .annotate(month=TruncMonth("created_at", tzinfo=rollups.workspace_tz(workspace)))
        .values("month")
        .annotate(n=Count("pk"))
    ):
        month = created["month"]
        per_month[(month.year, month.month)] = created["n"]
    chunks: list[tuple[date, date, int]] = []
    for first, last in month_chunks(start, end):
        n = per_month.get((first.year, first.month), 0)
        if chunks and chunks[-1][2] + n <= CHUNK_MESSAGES:
            chunks[-1] = (chunks[-1][0], last, chunks[-1][2] + n)
        else:
            chunks.append((first, last, n))
    return chunks


def backfill(
    workspace: Workspace,
    *,
    since: date | None = None,
    until: date | None = None,
    with_topics: bool = True,
    with_anomalies: bool = False,
    quiet: bool = False,
) -> int:
    span = rollups.message_range(workspace)
    if span is None:
        return 0
    start, end = since or span[0], until or span[1]
    chunks = message_chunks(workspace, start, end)
    total = 0
    with _progress(workspace, quiet=quiet) as progress:
        job = progress.add_task("messages", total=sum(n for _, _, n in chunks))
        for first, last, n in chunks:
            total += rollups.rebuild(workspace=workspace, start=first, end=last, refresh=False)
            progress.update(job, advance=n, description=f"messages {first:%Y-%m}..{last:%Y-%m}")
        _analyze()
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        job = progress.add_task("members", total=len(days))
        rollups.refresh_member_activity(workspace=workspace)
        for i in range(0, len(days), ACTIVE_STEP):
            chunk = days[i : i + ACTIVE_STEP]
            rollups.refresh_active_range(workspace=workspace, start=chunk[0], end=chunk[-1], totals=False)
            progress.update(job, advance=len(chunk))
        rollups.refresh_totals(workspace=workspace, since=start)
        rollups.refresh_cohorts(workspace=workspace, weeks={rollups.week_start(d) for d in days})
        DirtyDay.objects.filter(workspace=workspace, kind=DirtyDay.Kind.ACTIVE).delete()
        if with_topics:
            job = progress.add_task("topics", total=len(days))
            for day in days:
                topics.refresh_day(workspace=workspace, day=day)
                progress.update(job, advance=1)
            DirtyDay.objects.filter(workspace=workspace, kind=DirtyDay.Kind.TOPICS).delete()
        _build_segments(workspace, progress, every=True)
        if with_anomalies:
            now = timezone.now()
            anomalies.detect(workspace=workspace, start=now - timedelta(days=rollups.hourly_days()), end=now)
    RollupState.objects.update_or_create(workspace=workspace, defaults={"backfilled_at": timezone.now()})
    return total


def _progress(workspace: Workspace, *, quiet: bool) -> Progress:
    """The backfill's progress bars: one line per stage, named after the workspace."""
    return Progress(
        TextColumn(f"[bold]{workspace.slug}[/] " + "{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet,
    )


def build_segments(workspace: Workspace, *, every: bool = False, quiet: bool = False) -> int:
    """Track the workspace's segments and build the pending ones (every tracked one with `every`); then
    compare the other snapshots with their filters. Returns how many segments were built."""
    with _progress(workspace, quiet=quiet) as progress:
        built = _build_segments(workspace, progress, every=every)
    for rollup in SegmentRollup.objects.filter(workspace=workspace, status=SegmentRollup.Status.READY):
        segments.refresh_membership(rollup)
    return built


def _build_segments(workspace: Workspace, progress: Progress, *, every: bool) -> int:
    segments.sync(workspace=workspace)
    rollups = SegmentRollup.objects.filter(workspace=workspace).select_related("segment").order_by("pk")
    if not every:
        rollups = rollups.filter(status=SegmentRollup.Status.PENDING)
    built = 0
    for rollup in rollups:
        job = progress.add_task(f"segment {rollup.segment.name[:40]}", total=None)

        def step(done: int, total: int, job: TaskID = job) -> None:
            progress.update(job, completed=done, total=total)

        built += int(segments.build(rollup, progress=step, force=every))
    return built
