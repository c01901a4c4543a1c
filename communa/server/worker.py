"""The worker: runs queued tasks and a scheduler loop, on either task backend.

Embedded (no Redis): django-tasks-db workers claim task rows from the database. Scaled out (Redis): an RQ
worker consumes the queues. In both, a scheduler thread claims due work with conditional UPDATEs (see
ingest.polling.claim_due_sources), so any number of workers on any number of machines can run it, and two
event dispatcher threads (the fast and the main lane, events/dispatch.py) are woken as soon as a transaction of
this process that emitted an event commits: what a listener ingests reaches moderation's rules without a trip
through the task queue and without waiting behind the task threads' work (model inference).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from types import FrameType

from django.conf import settings
from django.db import close_old_connections, connections

from communa.events import wakeup
from communa.events.dispatch import LANES, dispatch_pending, serve, wake_here, wake_local
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
    lanes: Sequence[str] = tuple(LANES),
) -> None:
    """Every `interval` seconds: enqueue due polls, start listeners for free streaming sources, dispatch events.

    `dispatchers`: also serve these event `lanes` on threads of their own until `stop`."""
    if dispatchers:
        start_dispatchers(stop, lanes=lanes)
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


def start_dispatchers(
    stop: threading.Event, *, idle: float = 1.0, lanes: Sequence[str] = tuple(LANES)
) -> list[threading.Thread]:
    """One thread per event lane, each woken at once by the worker's commits (events.dispatch.wake_local)."""
    threads = [
        threading.Thread(target=serve, args=(lane, stop), kwargs={"idle": idle}, name=f"events-{lane}", daemon=True)
        for lane in lanes
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


# --- roles: the worker as two processes -----------------------------------------------------------------------

ROLES = ("split", "all", "live", "background")
LIVE_LANES = ("fast",)  # with the listeners and the removals' delivery threads
BACKGROUND_LANES = ("main",)  # with the task threads
CHILD_STOP_SECONDS = SHUTDOWN_GRACE_SECONDS + 5


def run_worker(*, role: str, threads: int, poll_interval: float, scheduler_interval: float, scheduler: bool) -> int:
    """Run the worker in `role`; return the exit status.

    - `split` (the default): this process is the *live* one and starts the *background* one as its child. What
      must happen within a second of a post (ingest, moderation's rules, a removal on the platform) then never
      waits for the interpreter lock behind model inference, rollups or inbox triage: measured on 2 cores at 20
      messages/s, the live work waited for it after each of its ~40 database answers (docs/benchmarks.md).
    - `live`: listeners, scheduler, the fast lane, delivery threads; `background`: the main lane and the tasks.
      Run them apart (say on two machines) and the lanes wake each other only by their idle poll (1 s).
    - `all`: everything in one process (`scheduler=False`: only the tasks, events through the task queue).
    """
    stop = threading.Event()
    parent = os.environ.get("COMMUNA_EXIT_WITH_PARENT", "")
    child = _start_background(threads=threads, poll_interval=poll_interval) if role == "split" else None
    if parent.isdigit():
        threading.Thread(target=exit_with_parent, args=(int(parent), stop), name="parent-watch", daemon=True).start()
    if role in ("split", "live"):
        return _run_live(stop, interval=scheduler_interval, child=child)
    if role == "background":
        os.nice(settings.COMMUNA_WORKER_BACKGROUND_NICE)  # the live process and the platform first
        wakeup.link_inherited(wake_here)
        start_dispatchers(stop, lanes=BACKGROUND_LANES)
    scheduling = _start_scheduler(stop, interval=scheduler_interval) if role == "all" and scheduler else None
    try:
        run_task_worker(threads=threads, poll_interval=poll_interval)
    finally:
        stop.set()
        if scheduling is not None:
            scheduling.join(timeout=5)  # the listeners release their sources (run_scheduler's end)
    return 0


def _run_live(stop: threading.Event, *, interval: float, child: subprocess.Popen[bytes] | None) -> int:
    """Listeners, scheduler and the fast lane until SIGTERM/SIGINT; with `child`, until it exits too (then 1)."""
    status = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    if child is not None:

        def watch() -> None:
            nonlocal status
            code = child.wait()
            if not stop.is_set():
                logger.error("the worker's background process exited (status %s); stopping the worker", code)
                status = 1
                stop.set()

        threading.Thread(target=watch, name="background-watch", daemon=True).start()
    scheduling = _start_scheduler(stop, interval=interval, lanes=LIVE_LANES)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        if child is not None:
            stop_child(child, timeout=CHILD_STOP_SECONDS)
        scheduling.join(timeout=5)  # the listeners release their sources (run_scheduler's end)
    return status


def _start_background(*, threads: int, poll_interval: float) -> subprocess.Popen[bytes]:
    """The background process, linked to this one for wake-ups, stopped by the kernel if this one dies."""
    ours, theirs = wakeup.pair()
    argv = [sys.executable, "-m", "communa.cli", "worker", "--role", "background"]
    argv += ["--threads", str(threads), "--interval", str(poll_interval)]
    env = {**os.environ, wakeup.WAKE_FD_ENV: str(theirs.fileno()), "COMMUNA_EXIT_WITH_PARENT": str(os.getpid())}
    child = subprocess.Popen(argv, env=env, pass_fds=(theirs.fileno(),), preexec_fn=die_with_parent)  # noqa: S603
    theirs.close()
    wakeup.link(ours, wake_here)
    return child


def _start_scheduler(
    stop: threading.Event, *, interval: float, lanes: Sequence[str] = tuple(LANES)
) -> threading.Thread:
    """run_scheduler (with the dispatcher threads of `lanes`) on a thread of its own until `stop`."""
    kwargs = {"interval": interval, "lanes": lanes}
    thread = threading.Thread(target=run_scheduler, args=(stop,), kwargs=kwargs, name="scheduler", daemon=True)
    thread.start()
    return thread


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child process (between fork and exec): get SIGTERM when the parent exits, however (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_child(child: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


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
