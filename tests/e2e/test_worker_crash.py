"""Real `communa worker` processes following a real Matrix room: killed mid-batch and restarted, two at once,
and one stopped for a restart.

The workers run as a person runs them (`python -m communa.cli worker`) on this test's database, so the test
creates the source with the services and reads what they stored with the ORM. A member of the room posts
numbered messages on a thread all along; whatever happens to the workers, every number must end up stored
exactly once: none lost, none twice (counted by Synapse's event id and by text).

The lease is made short (COMMUNA_LISTENER_LEASE_SECONDS) so that a killed worker's source is free again in
seconds rather than minutes, and the sync long-poll shorter than the lease, as the setting requires; the
restart test keeps the defaults' proportions instead (a 25 s long-poll, a 90 s lease), since a stopped worker
must hand its source over without either delaying the next one.
Enrichment is off: it is not what is tested here, and loading its models would only slow every restart.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.utils import timezone
from pydantic import SecretStr

from communa.accounts.models import Workspace
from communa.connectors.matrix.connector import MatrixConfig
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.events.models import DomainEvent
from communa.ingest.models import RawEvent
from communa.stream.models import Message
from tests.e2e.matrix import NumberedPoster, community_room
from tests.e2e.product import CommunaProcess, Deployment, deployment_on_test_database, flush_test_redis, wait_for
from tests.servers.synapse import SynapseServer

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4
SYNC_TIMEOUT_SECONDS = 1  # a listener renews its lease at least this often when the room is quiet
STARTUP_SECONDS = 90  # a worker's first sync, on a 2-core machine shared with other test runs
RATE = 10  # messages per second from the member


class Workers:
    """`communa worker` processes started by a test, all stopped at its end (by their own pids)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.started: list[CommunaProcess] = []

    def start(self, name: str) -> CommunaProcess:
        worker = self.deployment.process(name, "worker", "--scheduler-interval", "0.5")
        worker.start()
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@contextlib.contextmanager
def workers_with_lease(directory: Path, lease_seconds: int) -> Iterator[Workers]:
    deployment = deployment_on_test_database(
        directory, COMMUNA_LISTENER_LEASE_SECONDS=str(lease_seconds), COMMUNA_ENRICHMENT="false"
    )
    started = Workers(deployment)
    try:
        yield started
    finally:
        started.stop_all()
        flush_test_redis()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    with workers_with_lease(tmp_path, LEASE_SECONDS) as started:
        yield started


def room_and_source_of(
    synapse: SynapseServer, workspace: Workspace, *, sync_timeout_seconds: int = SYNC_TIMEOUT_SECONDS
) -> tuple[str, Source]:
    room = community_room(synapse, name="Crash test")
    config = MatrixConfig(
        homeserver=synapse.base_url,
        user_id=synapse.bot.user_id,
        access_token=SecretStr(synapse.bot.access_token),
        rooms=[room],
        sync_timeout_seconds=sync_timeout_seconds,
    )
    source = create_source(workspace=workspace, kind="matrix", name="Community room", config=config, actor=None)
    return room, source


@pytest.fixture
def room_and_source(synapse: SynapseServer, workspace: Workspace) -> tuple[str, Source]:
    return room_and_source_of(synapse, workspace)


def has_cursor(source: Source) -> bool:
    """The listener's first sync is committed (posting earlier could fall outside its bounded history)."""
    return bool(Source.objects.values_list("cursor", flat=True).get(pk=source.pk))


def stored_count(source: Source, poster: NumberedPoster) -> int:
    return Message.objects.filter(source=source, text__startswith=poster.prefix).count()


def pending_since(source: Source, moment: datetime) -> int:
    """Raw events stored after `moment` but not yet turned into messages: a batch in flight."""
    return RawEvent.objects.filter(source=source, processed_at=None, received_at__gt=moment).count()


def assert_stored_exactly_once(source: Source, poster: NumberedPoster, synapse: SynapseServer) -> None:
    rows = list(
        Message.objects.filter(source=source, text__startswith=poster.prefix).values_list(
            "external_id", "text", "identity__handle"
        )
    )
    assert Counter(text for _, text, _ in rows) == Counter(poster.text(n) for n in poster.sent)
    assert sorted(external_id for external_id, _, _ in rows) == sorted(poster.sent.values())
    assert {handle for _, _, handle in rows} == {synapse.member.user_id}
    assert list(RawEvent.objects.filter(source=source, processed_at=None).values_list("external_id", flat=True)) == []
    assert list(RawEvent.objects.filter(source=source).exclude(error="").values_list("error", flat=True)) == []
    source.refresh_from_db()
    assert source.message_count == Message.objects.filter(source=source).count()  # no batch counted twice


def kill_a_restarted_worker_mid_batch(workers: Workers, source: Source, *, attempts: int = 4) -> int | None:
    """Start a worker, SIGKILL it between committing a batch's raw events and committing its messages.

    Each restarted worker first waits for the dead one's lease to expire while the member keeps posting, so
    its first batch is a backlog of dozens of messages: a window of tens of milliseconds, watched closely.
    Returns the attempt that landed mid-batch (its raw events are left unprocessed), None if none did.
    """
    for attempt in range(1, attempts + 1):
        started_at = timezone.now()
        worker = workers.start(f"worker-restart-{attempt}")
        in_flight = wait_for(
            lambda since=started_at: pending_since(source, since), timeout=STARTUP_SECONDS, interval=0.002
        )
        worker.kill()
        if in_flight and pending_since(source, started_at):
            return attempt
    return None


def test_a_worker_killed_mid_batch_and_restarted_loses_nothing_and_duplicates_nothing(
    synapse: SynapseServer, workers: Workers, room_and_source: tuple[str, Source]
) -> None:
    room, source = room_and_source
    first = workers.start("worker-1")
    assert wait_for(lambda: has_cursor(source), timeout=STARTUP_SECONDS), first.log_tail()

    with NumberedPoster(synapse, room, prefix="crash test", per_second=RATE) as poster:
        assert wait_for(lambda: stored_count(source, poster) >= 20, timeout=STARTUP_SECONDS), first.log_tail()
        first.kill()  # wherever its loop is: syncing, storing or committing
        landed = kill_a_restarted_worker_mid_batch(workers, source)
        assert landed is not None, "no restarted worker could be killed between its raw events and its messages"

        last = workers.start("worker-last")
        posted = len(poster.sent)
        # The last worker catches up with everything posted so far while the member keeps posting.
        assert wait_for(lambda: stored_count(source, poster) >= posted, timeout=STARTUP_SECONDS), last.log_tail()

    assert wait_for(lambda: stored_count(source, poster) >= len(poster.sent), timeout=30), last.log_tail()
    assert len(poster.sent) >= 60
    assert_stored_exactly_once(source, poster, synapse)


def following(worker: CommunaProcess, source: Source) -> str:
    """The lease owner name under which `worker` follows `source`, from its log; "" if it does not."""
    marker = f" follows source {source.pk}"
    lines = [line for line in worker.log_text().splitlines() if line.endswith(marker)]
    return lines[-1].removesuffix(marker).rsplit(" ", 1)[-1] if lines else ""


def messages_per_ingest(source: Source) -> Counter[int]:
    """How many `messages.ingested` events carried each message id: 1 each when one listener reads."""
    events = DomainEvent.objects.filter(name="messages.ingested", data__source_id=source.pk)
    return Counter(pk for data in events.values_list("data", flat=True) for pk in data["message_ids"])


def test_a_second_worker_never_reads_alongside_and_takes_over_after_the_lease_expires(
    synapse: SynapseServer, workers: Workers, room_and_source: tuple[str, Source]
) -> None:
    room, source = room_and_source
    pair = [workers.start("worker-a"), workers.start("worker-b")]
    assert wait_for(lambda: has_cursor(source), timeout=STARTUP_SECONDS), pair[0].log_tail()

    with NumberedPoster(synapse, room, prefix="lease test", per_second=RATE) as poster:
        assert wait_for(lambda: stored_count(source, poster) >= 30, timeout=STARTUP_SECONDS)
        holder, other = pair if following(pair[0], source) else pair[::-1]
        owner, _expires = Source.objects.values_list("lease_owner", "lease_expires_at").get(pk=source.pk)
        assert (following(holder, source), following(other, source)) == (owner, "")
        ingested = messages_per_ingest(source)
        assert len(ingested) >= 30
        assert set(ingested.values()) == {1}  # no message went through two listeners

        holder.kill()
        expires = Source.objects.values_list("lease_expires_at", flat=True).get(pk=source.pk)  # renewed no more
        taken = wait_for(
            lambda: (
                Source.objects.filter(pk=source.pk).exclude(lease_owner=owner).exclude(lease_owner="").exists()
                and timezone.now()
            ),
            timeout=LEASE_SECONDS + STARTUP_SECONDS,
            interval=0.05,
        )
        assert taken, other.log_tail()
        assert expires is not None
        assert taken >= expires  # not before the dead worker's lease ran out
        new_owner = Source.objects.values_list("lease_owner", flat=True).get(pk=source.pk)
        # The lease row is written before the listener logs that it follows: give the log a moment on a busy machine.
        assert wait_for(lambda: following(other, source) == new_owner, timeout=10), other.log_tail()
        at_takeover = len(poster.sent)
        assert wait_for(lambda: stored_count(source, poster) >= at_takeover + 10, timeout=STARTUP_SECONDS)

    assert wait_for(lambda: stored_count(source, poster) >= len(poster.sent), timeout=30), other.log_tail()
    assert_stored_exactly_once(source, poster, synapse)


def test_a_worker_stopped_for_a_restart_hands_its_source_over_at_once(
    synapse: SynapseServer, tmp_path: Path, workspace: Workspace
) -> None:
    # The defaults: a listener in a quiet room waits up to 25 s in its sync, and a lease lasts 90 s. Neither
    # may delay the worker that takes over after a restart.
    room, source = room_and_source_of(synapse, workspace, sync_timeout_seconds=25)
    with workers_with_lease(tmp_path, 90) as workers:
        old = workers.start("worker-old")
        assert wait_for(lambda: has_cursor(source), timeout=STARTUP_SECONDS), old.log_tail()
        with NumberedPoster(synapse, room, prefix="before the restart", per_second=RATE) as before:
            assert wait_for(lambda: stored_count(source, before) >= 10, timeout=STARTUP_SECONDS)
        assert wait_for(lambda: stored_count(source, before) == len(before.sent), timeout=30)
        assert following(old, source)
        time.sleep(1)  # the room is quiet: the listener is inside its 25 s long-poll

        old.stop()  # SIGTERM, as a deploy, systemd or Ctrl+C stops it
        assert old.exited()
        assert Source.objects.values_list("lease_owner", "lease_expires_at").get(pk=source.pk) == ("", None)

        restarted = time.monotonic()
        new = workers.start("worker-new")
        assert wait_for(lambda: following(new, source), timeout=STARTUP_SECONDS), new.log_tail()
        assert time.monotonic() - restarted < 25
        with NumberedPoster(synapse, room, prefix="after the restart", per_second=RATE) as after:
            assert wait_for(lambda: stored_count(source, after) >= 10, timeout=STARTUP_SECONDS)
        assert wait_for(lambda: stored_count(source, after) == len(after.sent), timeout=30), new.log_tail()

    assert_stored_exactly_once(source, before, synapse)
    assert_stored_exactly_once(source, after, synapse)
