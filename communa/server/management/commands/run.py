from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Communa (ASGI) and run a worker beside it, in one process tree."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=os.environ.get("COMMUNA_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("COMMUNA_PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="serve only; run `communa worker` elsewhere")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_worker"]:
            self._start_worker()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"Communa is running at {url}  (Ctrl+C stops it)"))
        uvicorn.run(
            "communa.config.asgi:application",
            host=options["host"],
            port=options["port"],
            log_level="warning",
            timeout_graceful_shutdown=5,
        )

    def _start_worker(self) -> None:
        worker = subprocess.Popen([sys.executable, "-m", "communa.cli", "worker"])

        def stop_worker() -> None:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()

        atexit.register(stop_worker)
