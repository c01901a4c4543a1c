"""`communa events`: what the event dispatcher gave up on (dead letters), and putting them back on their lanes."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from communa.events.dispatch import retry_dead
from communa.events.models import DomainEvent


class Command(BaseCommand):
    help = "List the events a dispatcher lane gave up on after repeated failures, or put them back on their lanes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dead", action="store_true", help="list dead letters (the default)")
        parser.add_argument("--retry", nargs="*", type=int, metavar="ID", help="dispatch these dead letters again")
        parser.add_argument("--retry-all", action="store_true", help="dispatch every dead letter again")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry_all"] or options["retry"]:
            count = retry_dead(None if options["retry_all"] else list(options["retry"]))
            self.stdout.write(f"{count} event(s) back on their lanes")
            return
        dead = DomainEvent.objects.exclude(dead_lanes="").order_by("id")
        for event in dead:
            self.stdout.write(
                f"{event.pk}\t{event.name}\tworkspace {event.workspace_id}\t{event.created_at:%Y-%m-%d %H:%M:%S}"
                f"\tgiven up on: {event.dead_lanes}\t{event.last_error}"
            )
        self.stdout.write(f"{dead.count()} dead letter(s)")
