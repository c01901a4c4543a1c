from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from communa.server.worker import ROLES, run_worker, uses_redis


class Command(BaseCommand):
    help = "Run background tasks (polls, ingest, events) and the scheduler."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--threads", type=int, default=2, help="task threads (database backend)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between queue checks")
        parser.add_argument("--scheduler-interval", type=float, default=5.0)
        parser.add_argument("--no-scheduler", action="store_true", help="only run tasks (in one process)")
        parser.add_argument(
            "--role",
            choices=ROLES,
            default="split",
            help="split (default): a live process (listeners, moderation's rules, removals) and a background one "
            "(tasks, enrichment, the other event subscribers); all: one process; live / background: one of the two",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = "all" if options["no_scheduler"] else options["role"]
        backend = "Redis (RQ)" if uses_redis() else "database"
        tasks = f"{backend} task backend, {options['threads']} task thread(s)"
        self.stdout.write(
            {
                "split": "Communa worker: a live process (listeners, moderation's rules and removals) and a "
                f"background one ({tasks})",
                "live": "Communa worker (live): listeners, scheduler, moderation's rules and removals",
                "background": f"Communa worker (background): {tasks}, the main event lane",
            }.get(role, f"Communa worker: {tasks}")
        )
        self.stdout.flush()
        status = run_worker(
            role=role,
            threads=options["threads"],
            poll_interval=options["interval"],
            scheduler_interval=options["scheduler_interval"],
            scheduler=not options["no_scheduler"],
        )
        if status:
            sys.exit(status)
