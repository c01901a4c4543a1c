"""The worker: tasks on the active backend (database or Redis), the scheduler, listeners, event dispatch."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.db import connections

from communa.accounts.models import Workspace
from communa.connectors import registry
from communa.connectors.base import Capability, FetchResult, RawItem
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source
from communa.core.http import PermanentError, TransientError
from communa.events.dispatch import dispatch_pending
from communa.events.models import DomainEvent
from communa.ingest.listeners import ListenerSupervisor, acquire_lease, listen
from communa.ingest.polling import claim_due_sources, poll_source
from communa.ingest.tasks import schedule_due_polls
from communa.server.worker import uses_redis
from communa.stream.models import Message
from tests.conftest import FakeConfig, FakeConnector, raw

transactional = pytest.mark.django_db(transaction=True)


def run_queued_tasks() -> None:
    """Run everything queued on the configured backend, the way `communa worker` does, then return."""
    if uses_redis():
        from django_rq.workers import get_worker
        from rq import SimpleWorker

        get_worker("default", "ingest", job_class="django_tasks_rq.backend.Job", worker_class=SimpleWorker).work(
            burst=True
        )
        return
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default", "ingest"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


@pytest.fixture
def empty_queues() -> None:
    if uses_redis():
        import django_rq

        django_rq.get_connection("default").flushdb()


@transactional
def test_scheduled_poll_runs_on_the_task_backend(fake_source: Source, empty_queues: None) -> None:
    FakeConnector.pages = [FetchResult(items=[raw("a"), raw("b", parent="a")], cursor={"n": 1})]

    assert schedule_due_polls() == 1
    run_queued_tasks()

    fake_source.refresh_from_db()
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["a", "b"]
    assert fake_source.cursor == {"n": 1}
    assert fake_source.status == SourceStatus.ACTIVE


def test_backend_matches_configuration() -> None:
    expected = "django_tasks_rq.RQBackend" if settings.REDIS_URL else "django_tasks_db.DatabaseBackend"
    assert settings.TASKS["default"]["BACKEND"] == expected


@transactional
def test_two_schedulers_racing_claim_each_source_once(
    workspace: Workspace, fake_connector: type[FakeConnector]
) -> None:
    sources = [
        create_source(workspace=workspace, kind="fake", name=f"s{i}", config=FakeConfig(), actor=None) for i in range(6)
    ]
    claimed: list[list[int]] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        barrier.wait()
        try:
            claimed.append(claim_due_sources())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [pk for batch in claimed for pk in batch]
    assert sorted(winners) == sorted(s.pk for s in sources)  # every source once, none twice


class FailingFake(FakeConnector):
    error: ClassVar[Exception] = TransientError("HTTP 503 from https://feed.example")

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        raise self.error


@pytest.mark.django_db
def test_permanent_failure_disables_and_transient_failure_backs_off(
    fake_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.CONNECTORS, "fake", "tests.test_worker.FailingFake")
    registry.connector_class.cache_clear()

    poll_source(source_id=fake_source.pk)
    fake_source.refresh_from_db()
    assert (fake_source.status, fake_source.failure_count) == (SourceStatus.RETRYING, 1)
    assert fake_source.last_error == "HTTP 503 from https://feed.example"
    assert fake_source.next_poll_at is not None

    monkeypatch.setattr(FailingFake, "error", PermanentError("HTTP 401 Unauthorized from https://feed.example"))
    poll_source(source_id=fake_source.pk)
    fake_source.refresh_from_db()
    assert fake_source.status == SourceStatus.DISABLED
    assert fake_source.next_poll_at is None
    assert "401" in fake_source.last_error
    assert claim_due_sources() == []  # a disabled source is never polled again by itself


class StreamingFake(FakeConnector):
    """Long-polls like Matrix /sync: returns queued pages, else waits a little and returns nothing."""

    kind = "stream-fake"
    capabilities = frozenset({Capability.STREAM})
    queue: ClassVar[list[list[RawItem]]] = []

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        if self.queue:
            items = self.queue.pop(0)
            return FetchResult(items=items, cursor={"seen": cursor.get("seen", 0) + len(items)})
        time.sleep(0.05)
        return FetchResult(items=[], cursor=cursor)


@pytest.fixture
def stream_source(workspace: Workspace, fake_connector: type[FakeConnector]) -> Source:
    registry.CONNECTORS["stream-fake"] = "tests.test_worker.StreamingFake"
    registry.connector_class.cache_clear()
    StreamingFake.queue = [[raw("s1"), raw("s2")], [raw("s3", parent="s1")]]
    source = create_source(workspace=workspace, kind="stream-fake", name="Room", config=FakeConfig(), actor=None)
    yield source
    registry.CONNECTORS.pop("stream-fake", None)
    registry.connector_class.cache_clear()


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@transactional
def test_listener_follows_a_stream_and_only_one_worker_holds_it(stream_source: Source) -> None:
    stop = threading.Event()
    first = ListenerSupervisor(owner="worker-a", stop=stop)
    second = ListenerSupervisor(owner="worker-b", stop=stop)
    try:
        assert first.tick() == [stream_source.pk]
        assert second.tick() == []  # the lease is held by worker-a
        assert wait_for(lambda: Message.objects.filter(source=stream_source).count() == 3)
        assert wait_for(lambda: Source.objects.get(pk=stream_source.pk).cursor == {"seen": 3})
        assert Source.objects.get(pk=stream_source.pk).lease_owner == "worker-a"
    finally:
        stop.set()
        first.join()
    assert Source.objects.get(pk=stream_source.pk).lease_owner == ""  # released on shutdown
    assert Message.objects.get(external_id="s3").parent == Message.objects.get(external_id="s1")


@transactional
def test_a_dead_workers_lease_expires_and_another_takes_over(stream_source: Source) -> None:
    assert acquire_lease(source_id=stream_source.pk, owner="dead-worker", seconds=-1)  # already expired
    stop = threading.Event()
    thread = threading.Thread(target=listen, kwargs={"source_id": stream_source.pk, "owner": "alive", "stop": stop})
    thread.start()
    try:
        assert wait_for(lambda: Message.objects.filter(source=stream_source).count() == 3)
    finally:
        stop.set()
        thread.join(5)


@transactional
def test_paused_source_stops_its_listener(stream_source: Source) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=listen, kwargs={"source_id": stream_source.pk, "owner": "w", "stop": stop})
    thread.start()
    assert wait_for(lambda: Message.objects.filter(source=stream_source).count() == 3)
    Source.objects.filter(pk=stream_source.pk).update(status=SourceStatus.PAUSED)
    thread.join(5)
    stop.set()
    assert not thread.is_alive()


seen_events: list[int] = []


def record_event(event: DomainEvent) -> None:
    seen_events.append(event.pk)


@pytest.mark.django_db
def test_events_are_dispatched_once_to_their_subscribers(fake_source: Source) -> None:
    from communa.ingest.services import ingest_events

    seen_events.clear()
    ingest_events(source=fake_source, events=[raw("a")])
    ingest_events(source=fake_source, events=[raw("b")])
    table = {"messages.ingested": ["tests.test_worker.record_event"]}

    assert dispatch_pending(subscribers=table) == 2
    assert dispatch_pending(subscribers=table) == 0
    assert seen_events == list(DomainEvent.objects.order_by("id").values_list("pk", flat=True))


fast_seen: list[int] = []
main_seen: list[int] = []


def record_fast(event: DomainEvent) -> None:
    fast_seen.append(event.pk)


def record_main(event: DomainEvent) -> None:
    main_seen.append(event.pk)
    if event.data.get("fail"):
        raise RuntimeError("a broken main-lane subscriber")


@pytest.fixture
def two_lanes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    from communa.events import dispatch

    table = {"thing.happened": ["tests.test_worker.record_main", "tests.test_worker.record_fast"]}
    monkeypatch.setattr(dispatch, "SUBSCRIBERS", table)
    monkeypatch.setattr(dispatch, "FAST_LANE", frozenset({"tests.test_worker.record_fast"}))
    fast_seen.clear()
    main_seen.clear()
    return table


@pytest.mark.django_db
def test_the_fast_lane_runs_without_waiting_for_the_main_lane(workspace: Workspace, two_lanes: object) -> None:
    from communa.events.dispatch import dispatch_fast, dispatch_main
    from communa.events.services import emit

    first = emit(workspace_id=workspace.pk, name="thing.happened", data={"fail": True})
    other = emit(workspace_id=workspace.pk, name="other.thing", data={})
    assert (first.fast_pending, other.fast_pending) == (True, False)

    assert dispatch_fast() == 1
    assert (fast_seen, main_seen) == ([first.pk], [])
    with pytest.raises(RuntimeError):
        dispatch_main()  # a failing main-lane subscriber: the event stays undispatched on the main lane ...
    assert DomainEvent.objects.get(pk=first.pk).dispatched_at is None

    second = emit(workspace_id=workspace.pk, name="thing.happened", data={})
    assert dispatch_fast() == 1  # ... and the fast lane goes on
    assert dispatch_fast() == 0  # each event once
    assert fast_seen == [first.pk, second.pk]


@pytest.mark.django_db
def test_dispatch_pending_runs_both_lanes_once(workspace: Workspace, two_lanes: object) -> None:
    from communa.events.services import emit

    event = emit(workspace_id=workspace.pk, name="thing.happened", data={})
    assert dispatch_pending() == 1
    assert dispatch_pending() == 0
    assert (fast_seen, main_seen) == ([event.pk], [event.pk])
    event.refresh_from_db()
    assert event.fast_pending is False
    assert event.dispatched_at is not None


@pytest.mark.django_db
def test_the_main_lane_leaves_an_event_to_the_fast_lane_first(workspace: Workspace, two_lanes: object) -> None:
    from communa.events.dispatch import dispatch_fast, dispatch_main
    from communa.events.services import emit

    event = emit(workspace_id=workspace.pk, name="thing.happened", data={})
    assert dispatch_main() == 0  # still fast_pending: the main lane never takes (nor locks) the row before
    assert main_seen == []
    assert dispatch_fast() == 1
    assert dispatch_main() == 1
    assert (fast_seen, main_seen) == ([event.pk], [event.pk])


@pytest.mark.django_db
def test_a_poison_event_is_given_up_after_a_few_tries_and_can_be_retried(
    workspace: Workspace, two_lanes: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    from communa.events.dispatch import MAX_ATTEMPTS, dispatch_fast, dispatch_main
    from communa.events.services import emit

    poison = emit(workspace_id=workspace.pk, name="thing.happened", data={"fail": True})
    after = emit(workspace_id=workspace.pk, name="thing.happened", data={})
    assert dispatch_fast() == 2
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            dispatch_main()  # retried first, in order: the event after it waits
        poison.refresh_from_db()
        assert (poison.attempts, poison.dispatched_at, poison.dead_lanes) == (attempt, None, "")
        assert "a broken main-lane subscriber" in poison.last_error
    assert main_seen == [poison.pk] * (MAX_ATTEMPTS - 1)

    with pytest.raises(RuntimeError):
        dispatch_main()  # the last try: given up
    poison.refresh_from_db()
    assert poison.dead_lanes == "main"
    assert poison.dispatched_at is not None
    assert dispatch_main() == 1  # the lane goes on
    assert main_seen[-1] == after.pk

    call_command("events", "--dead")
    listed = capsys.readouterr().out
    assert f"{poison.pk}\tthing.happened" in listed
    assert "given up on: main" in listed
    assert "1 dead letter(s)" in listed

    DomainEvent.objects.filter(pk=poison.pk).update(data={})  # the cause fixed
    call_command("events", "--retry", str(poison.pk))
    assert "1 event(s) back on their lanes" in capsys.readouterr().out
    assert dispatch_main() == 1
    poison.refresh_from_db()
    assert (poison.dead_lanes, poison.attempts, poison.last_error) == ("", 0, "")
    assert main_seen[-1] == poison.pk


@transactional
def test_a_commit_wakes_the_dispatcher_threads_of_its_process(workspace: Workspace, two_lanes: object) -> None:
    from django.db import transaction

    from communa.events.services import emit
    from communa.server.worker import start_dispatchers

    stop = threading.Event()
    threads = start_dispatchers(stop, idle=60.0)  # no idle poll within the test: only the wake-up can dispatch
    try:
        assert wait_for(lambda: len(dispatch_lanes_registered()) == 2)
        with transaction.atomic():
            event = emit(workspace_id=workspace.pk, name="thing.happened", data={})
        assert wait_for(lambda: fast_seen == [event.pk] and main_seen == [event.pk], timeout=5)
    finally:
        stop.set()
        from communa.events.dispatch import wake_local

        wake_local()
        for thread in threads:
            thread.join(5)
    assert not any(t.is_alive() for t in threads)
    assert dispatch_lanes_registered() == []
    connections.close_all()


def dispatch_lanes_registered() -> list[str]:
    from communa.events import dispatch

    return sorted(dispatch._local)


def test_the_worker_processes_wake_each_others_lanes_through_their_socket_pair() -> None:
    """The live and the background process of `communa worker` (events/wakeup.py), played by one process and
    the far end of the pair: a wake-up goes out whether or not this process serves the lane, and each one
    that comes in wakes the lane it names."""
    from communa.events import wakeup
    from communa.events.dispatch import wake_local

    ours, theirs = wakeup.pair()
    woken: list[str | None] = []
    try:
        wakeup.link(ours, woken.append)
        assert wake_local("main")  # no lane thread here, but the other process has one
        assert theirs.recv(64) == b"main"
        assert wake_local()
        assert theirs.recv(64) == b"*"
        theirs.send(b"fast")
        theirs.send(b"*")
        assert wait_for(lambda: woken == ["fast", None], timeout=5)
    finally:
        wakeup.unlink_all()
        theirs.close()
    assert not wake_local("main")  # unlinked, no thread: the caller enqueues the dispatch task


def test_a_wake_up_never_blocks_when_the_other_process_does_not_read() -> None:
    from communa.events import wakeup

    ours, theirs = wakeup.pair()
    try:
        wakeup.link(ours, lambda lane: None)
        started = time.monotonic()
        for _ in range(20_000):  # far more than the socket buffer holds
            assert wakeup.tell("main")
        assert time.monotonic() - started < 5
    finally:
        wakeup.unlink_all()
        theirs.close()
