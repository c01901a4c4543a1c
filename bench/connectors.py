"""Matrix connector benchmark against a real Synapse: how fast the listener stores, and how soon.

    .venv/bin/python bench/connectors.py [--db sqlite|postgres] [--rate 50] [--seconds 60]
                                         [--burst-seconds 20] [--backlog 1000] [--senders 8] [--enrichment on|off]
    .venv/bin/python bench/connectors.py --steps [--rate 20] [--seconds 15] [--db ...]

Synapse is installed and started by the test suite's own helpers (tests/servers/synapse.py, imported from
here); Communa runs as `communa worker` in a child process (tests/e2e/product.py), its listener following
one room, on a database of the benchmark's own (a new SQLite file in a temporary data directory, or a new
PostgreSQL database that is dropped afterwards). Members of the room post through the client-server API
from sender threads, each member an account of its own; an observer thread in this process sees each
message appear in the database (it polls every 10 ms: the latencies are that coarse). Three phases:

1. live, as fast as Synapse accepts: the senders post back to back for --burst-seconds;
2. catching up: the source is paused, --backlog messages are posted, it is resumed: how long the listener
   takes to fetch them (one /sync plus /messages pages, see connectors/matrix) and store them;
3. latency: the senders post at --rate messages/second for --seconds (open loop: on schedule, whatever the
   answers), and each message's latency is the time from the start of its send to its row being visible.

With --steps the listener runs on a thread of this process instead (no task worker beside it) and each step
of its loop is timed (lease, /sync, ingest ...); only the latency phase runs.

Target (issue 3): p99 < 500 ms at 50 messages/second. Results and how to read them: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

PG_DATABASE = "communa_bench_connectors"
TARGET_P99_MS = 500.0
OBSERVE_EVERY = 0.01  # seconds between the observer's queries
SETTLE_SECONDS = 120  # how long to wait for the last messages of a phase before calling them lost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0, help="messages/second in the latency phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the latency phase")
    parser.add_argument("--burst-seconds", type=float, default=20.0, help="length of the as-fast-as-possible phase")
    parser.add_argument("--backlog", type=int, default=1000, help="messages posted while the source is paused")
    parser.add_argument("--senders", type=int, default=8, help="member accounts posting at the same time")
    parser.add_argument("--enrichment", choices=("on", "off"), default="on", help="the worker enriches what it stores")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="run the listener on a thread of this process instead of a worker, time each step of its loop,"
        " and measure latency only",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("COMMUNA_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"),
        help="server to create the benchmark database on (URL without a database name)",
    )
    return parser.parse_args(argv)


# --- the environment: settings of the benchmark's own, before Django is set up ------------------------


def configure(args: argparse.Namespace, data_dir: Path) -> None:
    """Point this process (and the worker, which inherits the environment) at the benchmark's database."""
    database = f"sqlite:///{data_dir / 'bench.sqlite3'}"
    if args.db == "postgres":
        database = args.pg_url.rstrip("/") + "/" + PG_DATABASE
    os.environ.update(
        DJANGO_SETTINGS_MODULE="communa.config.settings",
        COMMUNA_DATA_DIR=str(data_dir),
        COMMUNA_DATABASE_URL=database,
        COMMUNA_REDIS_URL="",
        COMMUNA_TASKS_IMMEDIATE="",
        COMMUNA_SECRET_KEY="communa-bench-not-a-secret-but-long-enough",
        COMMUNA_LOG_LEVEL="WARNING",
        COMMUNA_ENRICHMENT="true" if args.enrichment == "on" else "false",
        PYTHONUNBUFFERED="1",
    )


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[None]:
    if args.db == "sqlite":
        yield
        return
    from ingest import pg_admin

    if not pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"):
        raise SystemExit("PostgreSQL is unreachable")
    pg_admin(args.pg_url, f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield
    finally:
        pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


# --- the Matrix side ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Community:
    base_url: str
    room: str
    bot: Any  # MatrixAccount
    members: list[Any]  # MatrixAccount, one per sender


def make_community(base_url: str, secret: str, senders: int) -> Community:
    from tests.servers.synapse import MatrixUser, register

    owner = MatrixUser(base_url, register(base_url, secret, "owner", admin=True))
    bot = register(base_url, secret, "communa-bot")
    members = [register(base_url, secret, f"member{n}") for n in range(1, senders + 1)]
    room = owner.create_room(invite=(bot.user_id, *(m.user_id for m in members)), name="Benchmark")
    for account in members:
        with contextlib.closing(MatrixUser(base_url, account)) as member:
            member.join(room)
    owner.close()
    return Community(base_url=base_url, room=room, bot=bot, members=members)


@dataclasses.dataclass
class Sends:
    """When each text's send started and when Synapse answered it (time.monotonic()), and how late each
    send started compared with its schedule (open loop only)."""

    started: dict[str, float] = dataclasses.field(default_factory=dict)
    accepted: dict[str, float] = dataclasses.field(default_factory=dict)
    lateness: list[float] = dataclasses.field(default_factory=list)

    def accept_ms(self) -> list[float]:
        return [(self.accepted[text] - self.started[text]) * 1000 for text in self.accepted]


class Senders:
    """One thread per member account, posting texts to the room, each send timed."""

    def __init__(self, community: Community) -> None:
        from tests.servers.synapse import MatrixUser

        self.room = community.room
        self.users = [MatrixUser(community.base_url, account) for account in community.members]

    def close(self) -> None:
        for user in self.users:
            user.close()

    def on_schedule(self, texts: list[str], *, rate: float) -> Sends:
        """Post text i at start + i/rate, whatever the answers (open loop)."""
        start = time.monotonic() + 0.5
        return self._run(iter((text, start + i / rate) for i, text in enumerate(texts)))

    def back_to_back(self, texts: list[str]) -> Sends:
        """Post every text as soon as a sender is free (closed loop, all senders at once)."""
        return self._run(iter((text, None) for text in texts))

    def for_seconds(self, prefix: str, seconds: float) -> Sends:
        """Post "<prefix> <n>" back to back until `seconds` have passed."""
        deadline = time.monotonic() + seconds
        numbered = ((f"{prefix} {n:06d}", None) for n in itertools.count(1))
        return self._run(itertools.takewhile(lambda _: time.monotonic() < deadline, numbered))

    def _run(self, work: Iterator[tuple[str, float | None]]) -> Sends:
        sends = Sends()
        lock = threading.Lock()
        errors: list[Exception] = []

        def post(user: Any) -> None:
            try:
                while True:
                    with lock:  # one generator, several threads
                        text, due = next(work, (None, None))
                    if text is None:
                        return
                    if due is not None:
                        time.sleep(max(0.0, due - time.monotonic()))
                        sends.lateness.append(max(0.0, time.monotonic() - due))
                    sends.started[text] = time.monotonic()
                    user.say(self.room, text)
                    sends.accepted[text] = time.monotonic()
            except Exception as exc:  # noqa: BLE001 — raised below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=post, args=(user,), daemon=True) for user in self.users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"a send failed: {errors[0]}") from errors[0]
        return sends


# --- the Communa side -----------------------------------------------------------------------------------


class Observer(threading.Thread):
    """Sees each new message row of the source appear (committed: visible to another connection)."""

    def __init__(self, source_id: int) -> None:
        super().__init__(name="observer", daemon=True)
        self.source_id = source_id
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from communa.stream.models import Message

        last = 0
        try:
            while not self.stopping.is_set():
                rows = list(
                    Message.objects.filter(source_id=self.source_id, pk__gt=last)
                    .order_by("pk")
                    .values_list("pk", "text")
                )
                now = time.monotonic()
                for pk, text in rows:
                    self.seen.setdefault(text, now)
                    last = pk
                self.stopping.wait(OBSERVE_EVERY)
        finally:
            connection.close()

    def wait_for(self, texts: Any, timeout: float = SETTLE_SECONDS) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(text in self.seen for text in texts):
                return True
            time.sleep(0.05)
        return False


def create_source(community: Community) -> int:
    from pydantic import SecretStr

    from communa.accounts.models import User
    from communa.accounts.services import create_workspace
    from communa.connectors.matrix.connector import MatrixConfig
    from communa.connectors.services import create_source as create

    owner = User.objects.create_user(username="bench", email="bench@example.org")
    workspace = create_workspace(name="Bench", owner=owner, slug="bench")
    config = MatrixConfig(
        homeserver=community.base_url,
        user_id=community.bot.user_id,
        access_token=SecretStr(community.bot.access_token),
        rooms=[community.room],
    )
    return create(workspace=workspace, kind="matrix", name="Benchmark room", config=config, actor=None).pk


def source_row(source_id: int) -> Any:
    from communa.connectors.models import Source

    return Source.objects.get(pk=source_id)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- the phases -----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def live_phase(senders: Senders, observer: Observer, seconds: float) -> dict[str, Any]:
    sends = senders.for_seconds("live", seconds)
    stored = observer.wait_for(sends.started)
    first, last_sent = min(sends.started.values()), max(sends.started.values())
    seen = [observer.seen[t] for t in sends.started if t in observer.seen]
    last_seen = max(seen) if seen else float("nan")
    return {
        "messages": len(sends.started),
        "lost": len(sends.started) - len(seen),
        "all_stored": stored,
        "sent_per_second": len(sends.started) / (last_sent - first),
        "accept_p50_ms": percentile(sends.accept_ms(), 50),
        "stored_per_second": len(seen) / (last_seen - first),
        "last_lag_seconds": last_seen - last_sent,
    }


def backlog_phase(senders: Senders, observer: Observer, source_id: int, size: int) -> dict[str, Any]:
    from communa.connectors.services import set_paused

    set_paused(source=source_row(source_id), paused=True, actor=None)
    # The listener is in a long-poll: a message wakes it; it stores that, sees the pause, lets the lease go.
    observer.wait_for(senders.back_to_back(["backlog wake-up"]).started)
    wait_until(lambda: not source_row(source_id).lease_owner, 60, "the paused listener to stop")
    texts = [f"backlog {n:06d}" for n in range(1, size + 1)]
    posting = time.monotonic()
    senders.back_to_back(texts)
    posted = time.monotonic() - posting
    resumed = time.monotonic()
    set_paused(source=source_row(source_id), paused=False, actor=None)
    wait_until(lambda: bool(source_row(source_id).lease_owner), 60, "a listener to take the source again")
    picked_up = time.monotonic()
    stored = observer.wait_for(texts)
    seen = [observer.seen[t] for t in texts if t in observer.seen]
    done = max(seen) if seen else float("nan")
    return {
        "messages": size,
        "lost": size - len(seen),
        "all_stored": stored,
        "posting_seconds": posted,
        "pickup_seconds": picked_up - resumed,
        "catch_up_seconds": done - picked_up,
        "stored_per_second": len(seen) / (done - picked_up),
    }


def latency_phase(senders: Senders, observer: Observer, rate: float, seconds: float) -> dict[str, Any]:
    texts = [f"latency {n:06d}" for n in range(1, int(rate * seconds) + 1)]
    sends = senders.on_schedule(texts, rate=rate)
    stored = observer.wait_for(texts)
    seen = [t for t in texts if t in observer.seen]
    span = max(sends.started.values()) - min(sends.started.values())
    return {
        "messages": len(texts),
        "lost": len(texts) - len(seen),
        "all_stored": stored,
        "sent_per_second": len(texts) / span if span else float("nan"),
        "late_sends_p99_ms": percentile(sends.lateness, 99) * 1000,
        "send_to_stored": summary([(observer.seen[t] - sends.started[t]) * 1000 for t in seen]),
        "send_to_answer": summary(sends.accept_ms()),
        "answer_to_stored": summary([(observer.seen[t] - sends.accepted[t]) * 1000 for t in seen]),
    }


def summary(milliseconds: list[float]) -> dict[str, float]:
    return {f"p{p}": percentile(milliseconds, p) for p in (50, 90, 99)} | {"max": max(milliseconds)}


# --- report -----------------------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        names = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else ""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), load average {load}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def print_report(args: argparse.Namespace, synapse_version: str, results: dict[str, dict[str, Any]]) -> None:
    where = "a listener in the benchmark's process" if args.steps else f"a worker, enrichment {args.enrichment}"
    print(f"\nMatrix listener benchmark, {time.strftime('%Y-%m-%d %H:%M')}: Communa on {args.db} ({where}),")
    print(f"Synapse {synapse_version} (on SQLite), {args.senders} senders")
    print(f"machine: {machine()}\n")
    if "live" in results:
        print_ingest(args, results["live"], results["backlog"])
    print_latency(args, results["latency"])
    if "steps" in results:
        print_steps(results["steps"])


def print_ingest(args: argparse.Namespace, live: dict[str, Any], backlog: dict[str, Any]) -> None:
    print("(a) sustained ingest")
    print(
        f"    live, back to back for {args.burst_seconds:g} s: Synapse accepted {live['sent_per_second']:.1f} msg/s"
        f" (p50 {live['accept_p50_ms']:.0f} ms per send), Communa stored {live['stored_per_second']:.1f} msg/s,"
        f" the last {live['last_lag_seconds'] * 1000:.0f} ms after its send; {live['messages']} messages, lost"
        f" {live['lost']}"
    )
    print(
        f"    backlog of {backlog['messages']} after a pause (posted in {backlog['posting_seconds']:.1f} s):"
        f" picked up {backlog['pickup_seconds']:.1f} s after resuming, fetched and stored in"
        f" {backlog['catch_up_seconds']:.2f} s = {backlog['stored_per_second']:,.0f} msg/s; lost {backlog['lost']}"
    )


def print_latency(args: argparse.Namespace, latency: dict[str, Any]) -> None:
    print(
        f"(b) latency at {args.rate:g} msg/s offered for {args.seconds:g} s: {latency['messages']} messages sent at"
        f" {latency['sent_per_second']:.1f}/s (p99 lateness of a send {latency['late_sends_p99_ms']:.0f} ms),"
        f" lost {latency['lost']}"
    )
    print(f"    {'ms':<28}{'p50':>7}{'p90':>7}{'p99':>7}{'max':>7}")
    for key, label in (
        ("send_to_stored", "send → stored"),
        ("send_to_answer", "send → Synapse's answer"),
        ("answer_to_stored", "Synapse's answer → stored"),
    ):
        row = latency[key]
        print(f"    {label:<28}" + "".join(f"{row[name]:>7.0f}" for name in ("p50", "p90", "p99", "max")))
    ratio = latency["send_to_stored"]["p99"] / TARGET_P99_MS
    print(f"    p99 / target ({TARGET_P99_MS:.0f} ms) = {ratio:.2f}: {'meets' if ratio < 1 else 'MISSES'} the target")


def print_steps(steps: dict[str, Any]) -> None:
    iterations = steps["iteration"]["calls"]
    print(f"    the listener's loop during (b), {iterations} iterations; mean ms per iteration (calls):")
    for label, step in steps.items():
        print(f"    {label:<60}{step['per_iteration_ms']:>7.1f}  ({step['calls']})")


# --- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="communa-bench-connectors-") as tmp:
        data_dir = Path(tmp)
        configure(args, data_dir)
        with database(args):
            results, version = run(args, data_dir)
    print_report(args, version, results)
    lost = sum(phase["lost"] for name, phase in results.items() if name != "steps")
    return 1 if lost else 0


def run(args: argparse.Namespace, data_dir: Path) -> tuple[dict[str, dict[str, Any]], str]:
    import django

    django.setup()
    from django.core.management import call_command

    from tests.servers.base import SERVERS_DIR
    from tests.servers.synapse import install_synapse, start_synapse

    call_command("migrate", verbosity=0)
    print("installing / starting Synapse ...", flush=True)
    synapse_dir = data_dir / "synapse"
    synapse_dir.mkdir()
    synapse, base_url, secret = start_synapse(install_synapse(), synapse_dir)
    version = (SERVERS_DIR / "synapse" / ".installed").read_text().strip()
    try:
        community = make_community(base_url, secret, args.senders)
        source_id = create_source(community)
        listener = InProcessListener(source_id) if args.steps else WorkerListener(data_dir)
        with listener:
            wait_until(lambda: bool(source_row(source_id).cursor), 120, "the listener's first sync")
            return run_phases(args, community, source_id, listener), version
    finally:
        synapse.stop()


def run_phases(
    args: argparse.Namespace, community: Community, source_id: int, listener: WorkerListener | InProcessListener
) -> dict[str, dict[str, Any]]:
    observer = Observer(source_id)
    observer.start()
    senders = Senders(community)
    results: dict[str, dict[str, Any]] = {}
    try:
        if not args.steps:  # pausing and resuming needs a worker's supervisor to start the listener again
            print(f"(a) live for {args.burst_seconds:g} s ...", flush=True)
            results["live"] = live_phase(senders, observer, args.burst_seconds)
            print(f"(a) backlog of {args.backlog} ...", flush=True)
            results["backlog"] = backlog_phase(senders, observer, source_id, args.backlog)
        print(f"(b) latency at {args.rate:g}/s for {args.seconds:g} s ...", flush=True)
        if isinstance(listener, InProcessListener):
            listener.timer.reset()  # the steps of the first sync are not what is measured
        results["latency"] = latency_phase(senders, observer, args.rate, args.seconds)
        if isinstance(listener, InProcessListener):
            results["steps"] = listener.timer.summary()
        return results
    finally:
        observer.stopping.set()
        observer.join()
        senders.close()


class WorkerListener:
    """The listener as in production: inside a `communa worker` child process (tests/e2e/product.py)."""

    def __init__(self, data_dir: Path) -> None:
        from tests.e2e.product import Deployment

        self.worker = Deployment(directory=data_dir, env=dict(os.environ)).process(
            "worker", "worker", "--scheduler-interval", "1"
        )

    def __enter__(self) -> WorkerListener:
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()


# What --steps times in the listener's loop: (module, class or None, function, label).
STEPS = [
    ("communa.ingest.listeners", None, "acquire_lease", "lease"),
    ("communa.ingest.listeners", None, "_seconds_until_due", "due check"),
    ("communa.ingest.polling", None, "build_connector", "building the connector"),
    ("communa.ingest.polling", None, "process_pending", "pending replay"),
    ("communa.connectors.matrix.client", "MatrixClient", "__init__", "a new HTTP client"),
    ("communa.connectors.matrix.client", "MatrixClient", "joined_rooms", "/joined_rooms"),
    ("communa.connectors.matrix.client", "MatrixClient", "sync", "/sync"),
    ("communa.ingest.polling", None, "ingest_events", "ingest_events"),
    ("communa.ingest.polling", None, "mark_success", "success mark"),
    ("communa.ingest.listeners", None, "poll_source", "poll_source (all of the above but the lease and due check)"),
]


class StepTimer:
    """Wraps the functions of STEPS to time each call (in every thread; read after the run)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {label: [] for *_, label in STEPS}

    def install(self) -> None:
        import importlib

        for module_name, class_name, name, label in STEPS:
            owner: Any = importlib.import_module(module_name)
            if class_name:
                owner = getattr(owner, class_name)
            setattr(owner, name, self._timed(getattr(owner, name), self.calls[label]))

    @staticmethod
    def _timed(function: Callable[..., Any], calls: list[float]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - started)

        return timed

    def reset(self) -> None:
        for calls in self.calls.values():
            calls.clear()

    def summary(self) -> dict[str, Any]:
        polls = self.calls[STEPS[-1][-1]]
        iterations = max(1, len(polls))
        steps = {
            label: {"calls": len(calls), "per_iteration_ms": sum(calls) / iterations * 1000}
            for label, calls in self.calls.items()
        }
        whole = sum(sum(self.calls[label]) for label in ("lease", "due check", STEPS[-1][-1]))
        return steps | {"iteration": {"calls": len(polls), "per_iteration_ms": whole / iterations * 1000}}


class InProcessListener:
    """--steps: the listener loop on a thread of this process (no task worker beside it), each step timed."""

    def __init__(self, source_id: int) -> None:
        self.timer = StepTimer()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, args=(source_id,), name="listener", daemon=True)

    def _listen(self, source_id: int) -> None:
        from communa.ingest import listeners

        listeners.listen(source_id=source_id, owner="bench", stop=self.stop)

    def __enter__(self) -> InProcessListener:
        self.timer.install()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()  # the thread is a daemon: a sync in progress need not be waited for


if __name__ == "__main__":
    sys.exit(main())
