"""The worker: runs queued tasks and a scheduler loop, on either task backend.

Embedded (no Redis): django-tasks-db workers claim task rows from the database. Scaled out (Redis): an RQ
worker consumes the queues. In both, a scheduler thread claims due work with conditional UPDATEs (see
ingest.polling.claim_due_sources), so any number of workers on any number of machines can run it, and two
event dispatcher threads (the fast and the main lane, events/dispatch.py) are woken as soon as a transaction of
this process that emitted an event commits: what a listener ingests reaches moderation's rules without a trip
through the task queue and without waiting behind the task threads' work (model inference).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from types import FrameType

from django.conf import settings
from django.db import close_old_connections, connections

from communa.events.dispatch import LANES, dispatch_pending, serve, wake_local
from communa.events.periodic import run_due
from communa.ingest.listeners import ListenerSupervisor
from communa.ingest.tasks import schedule_due_polls

logger = logging.getLogger("communa.worker")

QUEUES = ["default", "ingest"]


def scheduler_tick(supervisor: ListenerSupervisor | None = None) -> None:
    schedule_due_polls()
    if supervisor is not None:
        supervisor.tick()
    # Events whose on-commit wake-up was lost (a crash right after commit) are picked up here, unless this
    # process's dispatcher threads poll for them anyway.
    if not wake_local():
        dispatch_pending()
    run_due()  # outbox sweeps, SLA checks, rollups ...: the table in events/periodic.py


def run_scheduler(
    stop: threading.Event,
    *,
    interval: float,
    listeners: bool = True,
    tick: Callable[[ListenerSupervisor | None], None] = scheduler_tick,
    dispatchers: bool = True,
) -> None:
    """Every `interval` seconds: enqueue due polls, start listeners for free streaming sources, dispatch events.

    `dispatchers`: also serve both event lanes on threads of their own until `stop`."""
    if dispatchers:
        start_dispatchers(stop)
    supervisor = (
        ListenerSupervisor(owner=f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}", stop=stop) if listeners else None
    )
    while not stop.is_set():
        try:
            close_old_connections()
            tick(supervisor)
        except Exception:
            logger.exception("scheduler tick failed; trying again in %ss", interval)
        finally:
            close_old_connections()
        stop.wait(interval)
    if supervisor is not None:
        supervisor.shutdown()  # hands the streaming sources over at once instead of after the lease expires
    connections.close_all()


def start_dispatchers(stop: threading.Event, *, idle: float = 1.0) -> list[threading.Thread]:
    """One thread per event lane, each woken at once by this process's commits (events.dispatch.wake_local)."""
    threads = [
        threading.Thread(target=serve, args=(lane, stop), kwargs={"idle": idle}, name=f"events-{lane}", daemon=True)
        for lane in LANES
    ]
    for thread in threads:
        thread.start()
    return threads


def uses_redis() -> bool:
    return bool(settings.REDIS_URL) and settings.TASKS["default"]["BACKEND"].startswith("django_tasks_rq")


def run_task_worker(*, threads: int, poll_interval: float) -> None:
    if uses_redis():
        _run_rq_worker()
    else:
        _run_db_workers(threads=threads, poll_interval=poll_interval)


def _run_db_workers(*, threads: int, poll_interval: float) -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    def make() -> Worker:
        return Worker(
            queue_names=QUEUES,
            interval=poll_interval,
            batch=False,
            backend_name="default",
            startup_delay=True,
            max_tasks=None,
            worker_id=f"communa-{uuid.uuid4().hex[:12]}",
            excluded_queue_names=[],
        )

    for _ in range(max(0, threads - 1)):
        threading.Thread(target=make().run, name="task-worker", daemon=True).start()
    main = make()
    main.configure_signals()
    _bound_graceful_shutdown(main.shutdown)
    main.run()


SHUTDOWN_GRACE_SECONDS = 10.0


def _bound_graceful_shutdown(graceful: Callable[[int, FrameType | None], None]) -> None:
    """On SIGTERM/SIGINT, let the running task finish for a while, then exit anyway.

    django-tasks-db waits for the running task without a limit; a long batch would keep a stopped
    `communa run` (or a deploy) waiting. Tasks are idempotent and the scheduler's sweeps re-enqueue what
    matters, so cutting one short is safe.
    """

    def shutdown(signum: int, frame: FrameType | None) -> None:
        timer = threading.Timer(SHUTDOWN_GRACE_SECONDS, os._exit, args=(1,))
        timer.daemon = True
        timer.start()
        graceful(signum, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, shutdown)


def exit_with_parent(parent_pid: int, stop: threading.Event, *, every: float = 1.0) -> None:
    """Stop this worker when the `communa run` that started it is gone (portable PR_SET_PDEATHSIG)."""
    while not stop.wait(every):
        if os.getppid() != parent_pid:
            logger.warning("the server that started this worker has exited; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _run_rq_worker() -> None:
    from django_rq.workers import get_worker
    from rq import SimpleWorker

    # SimpleWorker runs jobs in this process: no fork per job, and Django's DB connections stay sane.
    worker = get_worker(*QUEUES, job_class="django_tasks_rq.backend.Job", worker_class=SimpleWorker)  # type: ignore[arg-type]
    worker.work(with_scheduler=True)
