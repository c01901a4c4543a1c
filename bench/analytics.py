"""Analytics benchmark (PostgreSQL): overview numbers from rollups vs the same numbers from raw tables, and
rollup throughput.

    COMMUNA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_analytics .venv/bin/python bench/analytics.py
        [--scale 1.0]  (1.0 = 10,000,000 messages, 1,000,000 members, 2 years; --scale 0.01 for a quick run)

1. Generates the community set-based with generate_series (members, three sources, messages with replies and
   signals), then builds the rollups with the backfill's set-based rebuild.
2. Times the overview numbers (selectors.overview over the last 30 days, with the previous period) 30 times:
   p50/p95. Target p95 < 150 ms.
3. Computes the same headline numbers on the fly from raw tables (messages ⋈ members ⋈ signals) and reports the
   ratio raw / rollups (target ≥ 100×).
4. Rollup throughput: ingests-worth batches of 1,000 new messages through rollups.apply_batch (the worker path)
   and reports messages per second (target ≥ 1,000).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="measure again on the previous run's data")
    parser.add_argument("--generate-only", action="store_true", help="generate the data and stop (no backfill)")
    parser.add_argument("--backfill", action="store_true", help="with --reuse: rebuild the rollups first")
    parser.add_argument("--rebuild-segment", action="store_true", help="time the segment's build again")
    parser.add_argument("--no-segment", action="store_true", help="leave the segment step out")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("bench/analytics.py needs PostgreSQL (COMMUNA_DATABASE_URL)")
    _migrate()
    from communa.accounts.models import Workspace
    from communa.analytics import rollups, selectors
    from communa.connectors.models import Source
    from communa.members.models import Member
    from communa.stream.models import Message

    messages = int(10_000_000 * args.scale)
    members = max(100, int(1_000_000 * args.scale))
    days = 730
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    existing = Workspace.objects.filter(slug="bench-analytics").first()
    if args.reuse and existing is not None:  # measure again on the data of the previous run
        ws = existing
        sources = list(Source.objects.filter(workspace=ws).order_by("pk"))
        messages = Message.objects.filter(workspace=ws).count()
        members = Member.objects.filter(workspace=ws).count()
        first_member = Member.objects.filter(workspace=ws).order_by("pk").values_list("pk", flat=True).first() or 0
        generated = rolled = 0.0
        if args.backfill:
            t0 = time.perf_counter()
            _frugal_backfill(ws)
            rolled = time.perf_counter() - t0
    else:
        _drop_previous_run(connection)
        ws = Workspace.objects.create(name="Bench analytics", slug="bench-analytics", time_zone="UTC")
        sources = [Source.objects.create(workspace=ws, kind="import", name=f"source {i}") for i in range(3)]
        t0 = time.perf_counter()
        first_member = _generate(ws, sources, messages=messages, members=members, start=start, end=end)
        generated = time.perf_counter() - t0
        if args.generate_only:
            print(f"generation {generated:.1f} s; now run with --reuse --backfill")
            return
        t0 = time.perf_counter()
        _frugal_backfill(ws)
        rolled = time.perf_counter() - t0
    with connection.cursor() as c:
        c.execute("ANALYZE")
    rng = selectors.default_range(ws, 30)
    seg = _segment_step(ws, rng, first_member, members, args)
    p50, p95 = _overview_timings(ws, rng, selectors.NO_FILTERS, args.runs)
    lo, hi = rollups.day_bounds(rng.previous().start, rng.end, rollups.workspace_tz(ws))
    raw_sql = (
        "SELECT count(*) FILTER (WHERE m.created_at >= %s),"
        " count(DISTINCT m.member_id) FILTER (WHERE m.created_at >= %s),"
        " count(*) FILTER (WHERE m.parent_id IS NOT NULL AND pm.member_id <> m.member_id AND NOT pmm.is_staff),"
        " count(*) FILTER (WHERE s.sentiment = 'negative'), count(*) FILTER (WHERE s.is_toxic)"
        " FROM stream_message m JOIN members_member mm ON mm.id = m.member_id"
        " LEFT JOIN enrichment_messagesignals s ON s.message_id = m.id"
        " LEFT JOIN stream_message pm ON pm.id = m.parent_id LEFT JOIN members_member pmm ON pmm.id = pm.member_id"
        " WHERE m.workspace_id = %s AND m.created_at >= %s AND m.created_at < %s AND NOT mm.is_staff"
    )
    mid = rollups.day_bounds(rng.start, rng.end, rollups.workspace_tz(ws))[0]
    raw_timings = []
    for _ in range(3):
        t = time.perf_counter()
        with connection.cursor() as c:
            c.execute(raw_sql, [mid, mid, ws.pk, lo, hi])
            c.fetchall()
            # new members and MAU from raw: first message per member, distinct over 30 days
            c.execute(
                "SELECT count(*) FROM (SELECT member_id, min(created_at) f FROM stream_message WHERE workspace_id = %s"
                " GROUP BY member_id) x WHERE f >= %s",
                [ws.pk, lo],
            )
        raw_timings.append((time.perf_counter() - t) * 1000)
    raw_ms = statistics.median(raw_timings)
    # rollup throughput: batches of 1,000 new messages through the worker path
    batches, size = 10, 1000
    with connection.cursor() as c:
        c.execute("SELECT max(id) FROM stream_message")
        top = c.fetchone()[0]
        c.execute(
            "INSERT INTO stream_message (workspace_id, source_id, external_id, kind, member_id, parent_external_id,"
            " title, text, language, url, created_at, revised_at, ingested_at, metadata)"
            " SELECT %s, %s, 'new' || (%s + g), 'chat', %s + g %% %s, '', '', 'new ' || g, 'en', '',"
            " now() - interval '1 minute', now(), now(), '{}' FROM generate_series(1, %s) g",
            [ws.pk, sources[0].pk, top, first_member, members, batches * size],
        )
    new_ids = list(Message.objects.filter(workspace=ws, pk__gt=top).order_by("pk").values_list("pk", flat=True))
    t = time.perf_counter()
    for i in range(0, len(new_ids), size):
        rollups.apply_batch(workspace=ws, message_ids=new_ids[i : i + size])
    rollup_s = time.perf_counter() - t
    t = time.perf_counter()
    rollups.refresh_dirty(workspace=ws)
    refresh_s = time.perf_counter() - t
    t = time.perf_counter()
    while rollups.refresh_dirty(workspace=ws):  # the rest of the marks (400 per run), as the next minutes would
        pass
    rest_s = time.perf_counter() - t
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"scale {args.scale}: {messages:,} messages, {members:,} members, {days} days; load average {load}")
    print(f"generation {generated:.1f} s; rollup rebuild (backfill) {rolled:.1f} s")
    print(f"overview from rollups: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 < 150 ms)")
    print(f"same numbers from raw tables: {raw_ms:.0f} ms; ratio {raw_ms / p95:.0f}x (target >= 100x)")
    rate = len(new_ids) / rollup_s
    print(
        f"rollup update: {len(new_ids):,} messages in {rollup_s:.2f} s = {rate:,.0f} messages/s (target >= 1,000);"
        f" distinct-count refresh of today {refresh_s:.2f} s (every minute; with {seg['tracked']} segment(s))"
    )
    check = _segment_check(ws) if seg["members"] else ""
    if rest_s > 0.5:
        print(f"  (the remaining dirty marks of the run, as the following minutes would: {rest_s:.1f} s)")
    if seg["members"]:
        ledger = (
            f"the same from the ledger joined with the live filter {seg['ledger_ms']:.0f} ms"
            f" (ratio {seg['ledger_ms'] / seg['p95']:.0f}x)"
            if seg["ledger_ms"]
            else "ledger path measured only with --rebuild-segment"
        )
        print(
            f"segment ({seg['members']:,} members, every 10th): build {seg['build_s']:.1f} s ({seg['label']});"
            f" overview p50 {seg['p50']:.1f} ms, p95 {seg['p95']:.1f} ms; {ledger}; {check}"
        )


def _segment_check(ws: Any) -> str:
    """After the worker-path batches: the segment's counters still equal the ledger joined with its snapshot."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT (SELECT COALESCE(SUM(messages), 0) FROM analytics_segmentdaily WHERE workspace_id = %s),"
            " (SELECT count(*) FROM analytics_messagefact f JOIN analytics_segmentmember s"
            " ON s.member_id = f.member_id WHERE f.workspace_id = %s AND f.counted)",
            [ws.pk, ws.pk],
        )
        rolled, ledger = c.fetchone()
    verdict = "equal" if rolled == ledger else "DIFFERENT"
    return f"segment messages {rolled:,} vs ledger {ledger:,}: {verdict}"


def _generate(ws: Any, sources: list[Any], *, messages: int, members: int, start: datetime, end: datetime) -> int:
    """The community, set-based (members, threads of three, messages, signals). Returns the first member's id."""
    from django.db import connection

    with connection.cursor() as raw:
        c: Any = _Timed(raw)
        # A bulk load the way one restores a dump: no foreign-key triggers (the rows are consistent by
        # construction), secondary indexes dropped during the load and built once afterwards (a sorted build
        # instead of 10M random insertions into each of eight b-trees), no wait for the WAL flush.
        c.execute("SET session_replication_role = replica")
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '512MB'")
        rebuild = _drop_secondary_indexes(c, ("stream_message", "stream_thread", "enrichment_messagesignals"))
        # The full-text index is not read by analytics and costs most of a bulk load: not rebuilt in the bench DB.
        rebuild = [sql for sql in rebuild if "stream_message_fts" not in sql]
        c.execute(
            "INSERT INTO members_member (workspace_id, display_name, is_bot, is_staff, created_at, message_count,"
            " first_seen_at, last_seen_at) SELECT %s, 'member ' || g, false, g %% 5000 = 0, now(), 0, %s, %s"
            " FROM generate_series(1, %s) g",
            [ws.pk, start, end, members],
        )
        c.execute("SELECT min(id) FROM members_member WHERE workspace_id = %s", [ws.pk])
        first_member = _one(c)
        c.execute("SELECT COALESCE(max(id), 0) FROM stream_message")
        mbase = _one(c)
        c.execute("SELECT COALESCE(max(id), 0) FROM stream_thread")
        tbase = _one(c)
        # Threads of three: message g = 3k + 1 starts thread k, g + 1 replies to it, g + 2 replies to g + 1.
        c.execute(
            "INSERT INTO stream_thread (id, workspace_id, source_id, external_id, title, root_id, started_at,"
            " last_activity_at, message_count)"
            " SELECT %s + k, %s, (ARRAY[%s, %s, %s])[1 + k %% 3], 't' || k, '', %s + 3 * k + 1,"
            " %s::timestamptz + ((3 * k + 1)::float8 / %s) * interval '730 days',"
            " %s::timestamptz + ((3 * k + 3)::float8 / %s) * interval '730 days', 3"
            " FROM generate_series(0, (%s - 1) / 3) k",
            [tbase, ws.pk, *[s.pk for s in sources], mbase, start, messages, start, messages, messages],
        )
        c.execute(
            "INSERT INTO stream_message (id, workspace_id, source_id, external_id, kind, member_id, parent_id,"
            " thread_id, parent_external_id, title, text, language, url, created_at, revised_at, ingested_at,"
            " metadata)"
            " SELECT %s + g, %s, (ARRAY[%s, %s, %s])[1 + ((g - 1) / 3) %% 3], 'm' || g, 'chat',"
            " %s + (hashint4(g) & 2147483647) %% %s, CASE WHEN g %% 3 = 1 THEN NULL ELSE %s + g - 1 END,"
            " %s + (g - 1) / 3, '', '', 'message ' || g, (ARRAY['en','it','es','ru'])[1 + (g / 7) %% 4], '',"
            " %s::timestamptz + (g::float8 / %s) * interval '730 days', now(), now(), '{}'::jsonb"
            " FROM generate_series(1, %s) g",
            [
                mbase,
                ws.pk,
                *[s.pk for s in sources],
                first_member,
                members,
                mbase,
                tbase,
                start,
                messages,
                messages,
            ],
        )
        for name in ("stream_message", "stream_thread"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
        c.execute(
            "INSERT INTO enrichment_messagesignals (message_id, workspace_id, language, sentiment, is_toxic,"
            " is_spam, is_question, versions, explanation, sentiment_corrected, embedding_version)"
            " SELECT id, %s, (ARRAY['en','it','es','ru'])[1 + (id - %s) / 7 %% 4],"
            " (ARRAY['positive','neutral','negative'])[1 + id %% 3], id %% 97 = 0, false, id %% 11 = 0,"
            " '{}', '{}', '', '' FROM generate_series(%s + 1, %s + %s) id",
            [ws.pk, mbase, mbase, mbase, messages],
        )
        for sql in rebuild:
            c.execute(sql)
        c.execute("SET session_replication_role = DEFAULT")
        c.execute("ANALYZE")
    return first_member


def _migrate() -> None:
    """Apply pending migrations only: migrate's post_migrate hook (stream.search) builds the full-text index
    again, minutes on 10M messages, and analytics never reads it; in a database that holds only the benchmark it
    is dropped again."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from communa.accounts.models import Workspace

    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    call_command("migrate", verbosity=0)
    if not Workspace.objects.exclude(slug="bench-analytics").exists():
        with connection.cursor() as c:
            c.execute("DROP INDEX IF EXISTS stream_message_fts")


def _frugal_backfill(ws: Any) -> None:
    """The backfill on one core (no parallel workers: the machine is shared); the measurements after it run
    with the server's defaults."""
    from django.db import connection

    from communa.analytics.management.commands.analytics import backfill

    with connection.cursor() as c:
        c.execute("SET max_parallel_workers_per_gather = 0")
    backfill(ws, with_topics=False, quiet=False)
    with connection.cursor() as c:
        c.execute("RESET max_parallel_workers_per_gather")


def _overview_timings(ws: Any, rng: Any, filters: Any, runs: int) -> tuple[float, float]:
    from communa.analytics import selectors

    timings = []
    for _ in range(runs):
        t = time.perf_counter()
        selectors.overview(ws, rng, filters)
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]


def _segment_step(ws: Any, rng: Any, first_member: int, members: int, args: Any) -> dict[str, Any]:
    """A saved segment of every 10th member (a tag), timed three ways: the overview from the ledger joined with
    the live filter (what a segment filter costs without rollups), the segment's build (snapshot, counters month
    by month, distinct counts: what a change of definition costs), and the overview from its rollups."""
    from django.db import connection

    from communa.analytics import segments, selectors
    from communa.analytics.models import SegmentRollup
    from communa.members.models import Segment
    from communa.members.segments import MemberFilter, create_segment

    if args.no_segment:
        return {"members": 0, "tracked": 0}
    segment = Segment.objects.filter(workspace=ws, name="bench beta").first()
    label = "kept from the previous run"
    build_s, ledger_ms = 0.0, 0.0
    if segment is None or args.rebuild_segment:
        if segment is None:
            with connection.cursor() as c:
                c.execute(
                    "INSERT INTO members_tag (workspace_id, name, created_at) VALUES (%s, 'bench-beta', now())"
                    " ON CONFLICT (workspace_id, name) DO NOTHING",
                    [ws.pk],
                )
                c.execute(
                    "INSERT INTO members_membertag (workspace_id, member_id, tag_id, added_at)"
                    " SELECT %s, m.id, t.id, now() FROM members_member m"
                    " JOIN members_tag t ON t.workspace_id = %s AND t.name = 'bench-beta'"
                    " WHERE m.workspace_id = %s AND m.id %% 10 = 0 ON CONFLICT DO NOTHING",
                    [ws.pk, ws.pk, ws.pk],
                )
                c.execute("ANALYZE members_membertag")
            segment = create_segment(workspace=ws, name="bench beta", flt=MemberFilter(tag=["bench-beta"]), actor=None)
        SegmentRollup.objects.filter(segment=segment).delete()  # untracked: the ledger path
        t = time.perf_counter()
        selectors.overview(ws, rng, selectors.Filters(segment_id=segment.pk))
        ledger_ms = (time.perf_counter() - t) * 1000
        segments.sync(workspace=ws)
        rollup = SegmentRollup.objects.get(segment=segment)
        t = time.perf_counter()
        segments.build(
            rollup,
            progress=lambda done, total: (
                print(f"  segment build {done}/{total}", flush=True) if done % 6 == 0 or done == total else None
            ),
        )
        build_s = time.perf_counter() - t
        label = "measured in this run"
    rollup = SegmentRollup.objects.get(segment=segment)
    p50, p95 = _overview_timings(ws, rng, selectors.Filters(segment_id=segment.pk), args.runs)
    tracked = SegmentRollup.objects.filter(workspace=ws, status=SegmentRollup.Status.READY).count()
    return {
        "members": rollup.members,
        "tracked": tracked,
        "build_s": build_s,
        "label": label,
        "p50": p50,
        "p95": p95,
        "ledger_ms": ledger_ms,
    }


class _Timed:
    """A cursor that prints how long each generation statement took."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Any = None) -> None:
        t = time.perf_counter()
        self.cursor.execute(sql, params)
        took = time.perf_counter() - t
        if took > 1:
            print(f"  {took:7.1f} s  {' '.join(sql.split()[:4])}", flush=True)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> Any:
        return self.cursor.fetchall()


def _drop_secondary_indexes(c: Any, tables: tuple[str, ...]) -> list[str]:
    """Drop every index of `tables` but the primary keys; return the statements that build them again
    (unique constraints as constraints, the others as indexes)."""
    rebuild: list[str] = []
    for table in tables:
        c.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype = 'u'",
            [table],
        )
        constraints = c.fetchall()
        for name, definition in constraints:
            c.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            rebuild.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s"
            " AND indexname NOT LIKE '%%_pkey'",
            [table],
        )
        indexes = c.fetchall()
        for name, definition in indexes:
            c.execute(f"DROP INDEX {name}")
            rebuild.append(definition)
    return rebuild


def _one(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _drop_previous_run(connection: Any) -> None:
    """Remove the previous run's workspace. In a database that holds only the benchmark (the normal case),
    TRUNCATE: deleting 10M rows through the ORM's cascade would take longer than generating them."""
    from communa.accounts.models import Workspace

    if not Workspace.objects.filter(slug="bench-analytics").exists():
        return
    if Workspace.objects.exclude(slug="bench-analytics").exists():
        Workspace.objects.filter(slug="bench-analytics").delete()
        return
    with connection.cursor() as c:
        c.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT LIKE 'django_%%' AND tablename NOT LIKE 'auth_%%'"
        )
        c.execute(f"TRUNCATE {_one_text(c)} RESTART IDENTITY CASCADE")


def _one_text(cursor: Any) -> str:
    row = cursor.fetchone()
    return str(row[0])


if __name__ == "__main__":
    main()
