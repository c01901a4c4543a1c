from __future__ import annotations

import os
import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand

from communa.server.http import NoDelayH11Protocol
from communa.server.worker import die_with_parent, stop_child


class Command(BaseCommand):
    help = "Serve Communa (ASGI, --workers processes) and run a worker beside it, in one process tree."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=os.environ.get("COMMUNA_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("COMMUNA_PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="serve only; run `communa worker` elsewhere")
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("COMMUNA_WEB_WORKERS", "1")),
            help="web server processes (default 1; one per core on a busy install, with COMMUNA_DATABASE_POOL)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker = None if options["no_worker"] else self._start_worker()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"Communa is running at {url}  (Ctrl+C stops it)"))
        try:
            uvicorn.run(
                "communa.config.asgi:application",
                host=options["host"],
                port=options["port"],
                log_level="warning",
                timeout_graceful_shutdown=5,
                workers=max(1, options["workers"]),
                http=NoDelayH11Protocol,  # TCP_NODELAY on every connection, whatever the number of processes
            )
        finally:
            if worker is not None:
                stop_child(worker, timeout=20)

    def _start_worker(self) -> subprocess.Popen[bytes]:
        # Two ways to never leave an orphaned worker: the kernel's parent-death signal (Linux), and the worker
        # watching for its parent to go (everywhere). uvicorn re-raises SIGTERM after its graceful shutdown,
        # so the `finally` below is not reached on a signal, only on a normal return.
        env = {**os.environ, "COMMUNA_EXIT_WITH_PARENT": str(os.getpid())}
        return subprocess.Popen([sys.executable, "-m", "communa.cli", "worker"], preexec_fn=die_with_parent, env=env)
