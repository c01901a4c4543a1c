"""Print the benchmark's results as one table per run, with the ratios and the targets."""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TARGETS = {"rate": 20_000, "vs_per_row": 30.0, "vs_floor": 3.0}  # SQLite, one core (issue "Foundation")


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in read_lines("/proc/cpuinfo") if line.startswith("model name")), "?"
    )
    memory_kb = next((int(line.split()[1]) for line in read_lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    console = Console(width=120)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    console.print(f"[bold]Communa ingest benchmark[/bold]  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    console.print(f"Machine: {machine()}; load average at the end: {load}")
    console.print(
        f"{args.messages:,} messages, {args.people:,} people, 5 sources, threads with replies; the per-row importer"
        f" runs on the first {args.per_row:,} messages and is compared per message. 'per CPU second' counts only"
        " this Python process's CPU time (on PostgreSQL the server's work is not in it)."
    )
    for result in results:
        console.print(table(result))
        for line in verdicts(result):
            console.print(line)


def table(result: dict[str, Any]) -> Table:
    floor, per_row, ingest = result["legs"]
    grid = Table(title=f"{result['db_version']} ({result['counts']['stream.Message']:,} messages stored)")
    columns = ("path", "messages", "seconds", "messages/s", "per CPU second", "ingest_events vs this")
    for column in columns:
        grid.add_column(column, justify="left" if column == "path" else "right")
    for leg in (ingest, per_row, floor):
        ratio = ingest["rate"] / leg["rate"]
        cpu_rate = leg["messages"] / leg["cpu"] if leg["cpu"] else 0
        grid.add_row(
            leg["name"], f"{leg['messages']:,}", f"{leg['seconds']:.2f}", f"{leg['rate']:,.0f}", f"{cpu_rate:,.0f}",
            f"{ratio:.2f}×",
        )  # fmt: skip
    return grid


def verdicts(result: dict[str, Any]) -> list[str]:
    floor, per_row, ingest = result["legs"]
    speedup = ingest["rate"] / per_row["rate"]
    behind_floor = floor["rate"] / ingest["rate"]
    lines = [
        f"  ingest_events: {ingest['rate']:,.0f} msg/s; {speedup:.1f}× the per-row importer;"
        f" the raw floor is {behind_floor:.2f}× faster."
    ]
    if result["db"] == "sqlite":
        checks = (
            (ingest["rate"] >= TARGETS["rate"], f"≥ {TARGETS['rate']:,} msg/s on one core"),
            (speedup >= TARGETS["vs_per_row"], f"≥ {TARGETS['vs_per_row']:.0f}× the per-row importer"),
            (behind_floor <= TARGETS["vs_floor"], f"within {TARGETS['vs_floor']:.0f}× of raw executemany"),
        )
        lines += [f"  {'[green]met[/green]' if ok else '[red]MISSED[/red]'}  {label}" for ok, label in checks]
    else:
        lines.append("  (targets are for SQLite; PostgreSQL's server runs in its own processes)")
    return lines
