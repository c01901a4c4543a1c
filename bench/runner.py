"""The child process of bench/ingest.py: one database, three ways of writing the same rows, timed.

Each leg starts from empty tables (the same schema, the same database file or server), so none of them
pays for the rows of another. The legs run in this order: raw floor, per-row importer, ingest_events.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import platform
import pstats
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Bench(args).run()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        import workload

        self.args = args
        started = time.perf_counter()
        self.workload = workload.build(total=args.messages, people=args.people)
        self.generate_seconds = time.perf_counter() - started
        self.sources = self.make_sources()

    def make_sources(self) -> dict[str, Any]:
        import workload

        from communa.accounts.models import User
        from communa.accounts.services import create_workspace
        from communa.connectors.services import create_source

        owner = User.objects.create_user(username="bench", email="bench@example.org")
        ws = create_workspace(name="Bench", owner=owner, slug="bench")
        return {
            shape.name: create_source(
                workspace=ws, kind="bench", name=shape.name, config=workload.BenchConfig(platform=shape.platform),
                actor=None,
            )
            for shape in workload.SHAPES
        }  # fmt: skip

    def run(self) -> dict[str, Any]:
        floor = self.leg("raw executemany floor", self.floor, self.args.messages)
        floor_counts = counts()
        per_row = self.leg("per-row ORM importer", self.per_row, self.per_row_total())
        ingest = self.leg("ingest_events", self.ingest, self.args.messages, profile=self.args.profile)
        ingest_counts = counts()
        if ingest_counts != floor_counts:
            raise SystemExit(f"ingest_events and the floor disagree: {ingest_counts} != {floor_counts}")
        return {
            "db": self.args.worker,
            "db_version": database_version(),
            "python": platform.python_version(),
            "messages": self.args.messages,
            "generate_seconds": self.generate_seconds,
            "counts": ingest_counts,
            "legs": [floor, per_row, ingest],
        }

    def leg(self, name: str, body: Callable[[], None], messages: int, *, profile: bool = False) -> dict[str, Any]:
        reset_tables()
        profiler = cProfile.Profile() if profile else None
        statements = StatementTimer()
        started, cpu_started = time.perf_counter(), time.process_time()
        with statements.installed(enabled=self.args.profile):
            if profiler:
                profiler.runcall(body)
            else:
                body()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler:
            print_profile(profiler)
        if self.args.profile:
            print(f"  {self.args.worker}: {name}:", file=sys.stderr)
            statements.print_top(seconds)
        print(f"  {self.args.worker}: {name}: {messages:,} messages in {seconds:.2f} s", file=sys.stderr)
        return {"name": name, "messages": messages, "seconds": seconds, "rate": messages / seconds, "cpu": cpu}

    def per_row_total(self) -> int:
        return sum(len(items) for items in self.per_row_items().values())

    def per_row_items(self) -> dict[str, Any]:
        share = self.args.per_row // len(self.workload.items)
        return {name: items[:share] for name, items in self.workload.items.items()}

    def floor(self) -> None:
        from baselines import FloorIds, raw_floor

        ids = FloorIds()
        for name, items in self.workload.items.items():
            raw_floor(source=self.sources[name], items=items, threads=self.workload.threads[name], ids=ids)

    def per_row(self) -> None:
        from baselines import per_row_import

        for name, items in self.per_row_items().items():
            source = self.sources[name]
            per_row_import(source=source, connector=connector_for(source), items=items)

    def ingest(self) -> None:
        from communa.core.bulk import chunked
        from communa.ingest.services import ingest_events

        for name, items in self.workload.items.items():
            source = self.sources[name]
            connector = connector_for(source)
            for page in chunked(items, 1000):  # one poll page at a time, as a connector delivers them
                ingest_events(source=source, events=page, connector=connector)


def connector_for(source: Any) -> Any:
    import workload

    return workload.BenchConnector(workload.BenchConfig.model_validate(source.config))


def data_models() -> list[Any]:
    from django.apps import apps

    names = ("stream.Message", "stream.Thread", "members.Identity", "members.Member", "ingest.RawEvent",
             "events.DomainEvent", "django_tasks_database.DBTaskResult")  # fmt: skip
    return [apps.get_model(name) for name in names]


def reset_tables() -> None:
    """Empty every table the legs write, in one statement per table, keeping the schema and the sources."""
    from django.db import connection, transaction

    tables = [connection.ops.quote_name(model._meta.db_table) for model in data_models()]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:  # foreign keys are deferred: checked once, at commit, when all are empty
                cursor.execute(f"DELETE FROM {table}")


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in data_models()[:5]}


def database_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


class StatementTimer:
    """Wall time per SQL statement shape (values and IN-lists elided), to see which statement costs what."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def installed(self, *, enabled: bool) -> Iterator[None]:
        from django.db import connection

        if not enabled:
            yield
            return
        with connection.execute_wrapper(self):
            yield

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = re.sub(r"(%s, )+%s", "…", sql)[:150]
            total = self.totals.setdefault(("many: " if many else "") + shape, [0.0, 0])
            total[0] += time.perf_counter() - started
            total[1] += 1

    def print_top(self, seconds: float) -> None:
        print(f"  SQL time by statement ({seconds:.2f} s in the leg):", file=sys.stderr)
        for shape, (spent, calls) in sorted(self.totals.items(), key=lambda kv: -kv[1][0])[:15]:
            print(f"  {spent:7.3f} s {calls:6d}×  {shape}", file=sys.stderr)


def print_profile(profiler: cProfile.Profile) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    print(out.getvalue(), file=sys.stderr)
