"""Ingest benchmark: 100,000 messages through `ingest_events`, against a per-row importer and a raw floor.

    .venv/bin/python bench/ingest.py [--db sqlite|postgres|both] [-n 100000] [--profile]

Each database runs in a child process with its own settings: a fresh SQLite file in a temporary data
directory, or a fresh PostgreSQL database (communa_bench, created and dropped here). It never reads or
writes a user's data. Results and how to read them: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PG_DATABASE = "communa_bench"
RESULT_PREFIX = "BENCH_RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("-n", "--messages", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--per-row", type=int, default=10_000, help="messages for the per-row importer (a subset)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("COMMUNA_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"),
        help="server to create the benchmark database on (URL without a database name)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the ingest_events leg, print the top")
    parser.add_argument("--worker", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- parent: one child process per database -------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        from runner import run

        print(RESULT_PREFIX + json.dumps(run(args)), flush=True)
        return 0
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [result for db in databases if (result := run_child(db, args)) is not None]
    from report import print_report

    print_report(results, args)
    return 0 if len(results) == len(databases) else 1


def run_child(db: str, args: argparse.Namespace) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory(prefix="communa-bench-") as data_dir:
        env = bench_environment(data_dir)
        if db == "postgres":
            if not create_pg_database(args.pg_url):
                return None
            env["COMMUNA_DATABASE_URL"] = args.pg_url.rstrip("/") + "/" + PG_DATABASE
        else:
            env["COMMUNA_DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", db, *child_args(args)]
        try:
            done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
        finally:
            if db == "postgres":
                drop_pg_database(args.pg_url)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line.removeprefix(RESULT_PREFIX)))
        print(line)
    print(f"!!! the {db} run failed (exit {done.returncode})", file=sys.stderr)
    return None


def child_args(args: argparse.Namespace) -> list[str]:
    extra = ["-n", str(args.messages), "--people", str(args.people), "--per-row", str(args.per_row)]
    return [*extra, "--profile"] if args.profile else extra


def bench_environment(data_dir: str) -> dict[str, str]:
    """Settings of the bench's own: its own data directory, no Redis, no secret key file of the user's."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="communa.config.settings",
        COMMUNA_DATA_DIR=data_dir,
        COMMUNA_REDIS_URL="",
        COMMUNA_TASKS_IMMEDIATE="",
        COMMUNA_SECRET_KEY="communa-bench-not-a-secret",
        COMMUNA_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(BENCH_DIR), str(ROOT), env.get("PYTHONPATH", "")]),
    )
    return env


def pg_admin(url: str, statement: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.rstrip("/") + "/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        print(f"!!! PostgreSQL at {url}: {exc}", file=sys.stderr)
        return False
    return True


def create_pg_database(url: str) -> bool:
    return pg_admin(url, f"DROP DATABASE IF EXISTS {PG_DATABASE}") and pg_admin(url, f"CREATE DATABASE {PG_DATABASE}")


def drop_pg_database(url: str) -> None:
    pg_admin(url, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
