from __future__ import annotations

import os
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from communa.server.worker import exit_with_parent, run_scheduler, run_task_worker, uses_redis


class Command(BaseCommand):
    help = "Run background tasks (polls, ingest, events) and the scheduler."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--threads", type=int, default=2, help="task threads (database backend)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between queue checks")
        parser.add_argument("--scheduler-interval", type=float, default=5.0)
        parser.add_argument("--no-scheduler", action="store_true", help="only run tasks")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = "Redis (RQ)" if uses_redis() else "database"
        self.stdout.write(f"Communa worker: {backend} task backend, {options['threads']} thread(s)")
        stop = threading.Event()
        parent = os.environ.get("COMMUNA_EXIT_WITH_PARENT", "")
        if parent.isdigit():
            threading.Thread(
                target=exit_with_parent, args=(int(parent), stop), name="parent-watch", daemon=True
            ).start()
        scheduler = threading.Thread(
            target=run_scheduler,
            args=(stop,),
            kwargs={"interval": options["scheduler_interval"]},
            name="scheduler",
            daemon=True,
        )
        if not options["no_scheduler"]:
            scheduler.start()
        try:
            run_task_worker(threads=options["threads"], poll_interval=options["interval"])
        finally:
            stop.set()
            if scheduler.is_alive():
                scheduler.join(timeout=5)  # the listeners release their sources (run_scheduler's end)
