"""`communa demo`: build the demo community and print where to sign in."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from communa.demo.generator import DEFAULT_DAYS, DEFAULT_SEED
from communa.demo.services import (
    DEMO_PASSWORD,
    TEAM,
    WORKSPACE_NAME,
    DemoExists,
    DemoSummary,
    build_demo,
    demo_workspace,
    summarize,
)
from communa.stream.models import Message


class Command(BaseCommand):
    help = "Build the demo community (workspace 'aurora') with a demo login; deterministic for a given --seed."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if the demo already has messages.")
        parser.add_argument("--reset", action="store_true", help="Delete the demo workspace and build it again.")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Same seed, same community.")
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="How much history, ending now (14-365).")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        if not 14 <= days <= 365:
            raise CommandError("--days must be between 14 and 365.")
        existing = demo_workspace()
        if options["if_empty"] and existing and Message.objects.filter(workspace=existing).exists():
            self.stdout.write(f"The demo community is already there ({summarize(existing).messages} messages).")
            self.print_logins()
            return
        started = time.monotonic()
        try:
            summary = build_demo(seed=options["seed"], days=days, reset=options["reset"])
        except DemoExists as exc:
            raise CommandError(f"{exc} Use --reset to rebuild it, or --if-empty to leave it.") from exc
        self.print_summary(summary, time.monotonic() - started)
        self.print_logins()

    def print_summary(self, summary: DemoSummary, seconds: float) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo community {WORKSPACE_NAME!r} ready in {seconds:.1f} s: {summary.messages:,} messages from"
                f" {summary.members:,} members in {summary.sources} sources."
            )
        )

    def print_logins(self) -> None:
        self.stdout.write(f"Open {settings.BASE_URL}/ and sign in as demo / {DEMO_PASSWORD}")
        others = ", ".join(f"{login.username} ({login.role_label})" for login in TEAM[1:])
        self.stdout.write(f"Other logins with the same password: {others}.")
