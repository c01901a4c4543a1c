from __future__ import annotations

from typing import Any

import pytest

from communa.connectors.base import FetchResult
from communa.connectors.models import Source, SourceStatus
from communa.events.models import DomainEvent
from communa.ingest import services as ingest_services
from communa.ingest.models import RawEvent
from communa.ingest.polling import claim_due_sources, poll_source
from communa.ingest.services import ingest_events, process_pending
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread
from tests.conftest import FakeConfig, FakeConnector, raw

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, Any]:
    return {
        "messages": sorted(
            Message.objects.values_list(
                "external_id", "text", "thread__external_id", "parent__external_id", "member_id"
            )
        ),
        "identities": sorted(Identity.objects.values_list("external_id", "member_id")),
        "members": Member.objects.count(),
        "threads": sorted(Thread.objects.values_list("external_id", "message_count", "root__external_id")),
        "raw": RawEvent.objects.count(),
    }


def batch() -> list[Any]:
    return [
        raw("m1", "ana", "How do I reset my password?", 0),
        raw("m2", "ben", "Settings > Account > Reset", 5, parent="m1"),
        raw("m3", "ana", "Thanks!", 6, parent="m2"),
        raw("m4", "cleo", "New release is out", 10),
    ]


def test_ingest_creates_messages_threads_identities_members(fake_source: Source) -> None:
    result = ingest_events(source=fake_source, events=batch())

    assert (result.received, result.messages, result.created) == (4, 4, 4)
    state = snapshot()
    assert state["members"] == 3
    assert state["threads"] == [("m1", 3, "m1"), ("m4", 1, "m4")]
    m3 = Message.objects.get(external_id="m3")
    assert m3.parent is not None
    assert m3.parent.external_id == "m2"
    assert m3.thread is not None
    assert m3.thread.external_id == "m1"
    assert m3.member == Member.objects.get(identities__external_id="ana")
    assert Identity.objects.get(external_id="ana").display_name == "Ana"


def test_same_batch_twice_leaves_the_same_rows(fake_source: Source) -> None:
    ingest_events(source=fake_source, events=batch())
    before = snapshot()

    again = ingest_events(source=fake_source, events=batch())

    assert snapshot() == before
    assert again.created == 0
    assert again.messages == 4


def test_reply_arriving_before_its_parent_is_linked_later(fake_source: Source) -> None:
    ingest_events(source=fake_source, events=[raw("r", "ben", "yes!", 5, parent="p", thread="p")])
    ingest_events(source=fake_source, events=[raw("p", "ana", "anyone?", 0)])

    reply = Message.objects.get(external_id="r")
    assert reply.parent is not None
    assert reply.parent.external_id == "p"
    assert Thread.objects.get(external_id="p").message_count == 2


def test_an_edit_wins_and_an_older_replay_does_not_undo_it(fake_source: Source) -> None:
    ingest_events(source=fake_source, events=[raw("m1", text="helo")])
    ingest_events(source=fake_source, events=[raw("m1", text="hello", edited="2026-03-02T09:01:00+00:00")])
    ingest_events(source=fake_source, events=[raw("m1", text="helo")])  # the original replayed late

    message = Message.objects.get(external_id="m1")
    assert message.text == "hello"
    assert message.edited_at is not None


def test_deletion_blanks_the_text_and_keeps_the_row(fake_source: Source) -> None:
    ingest_events(source=fake_source, events=[raw("m1", text="secret")])
    ingest_events(source=fake_source, events=[raw("m1#del", text="", deleted=True, id="m1")])

    message = Message.objects.get(external_id="m1")
    assert (message.text, message.deleted_at is not None) == ("", True)


def test_crash_between_raw_store_and_normalize_then_retry(fake_source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**kwargs: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ingest_services, "_process", crash)
    with pytest.raises(RuntimeError):
        ingest_events(source=fake_source, events=batch(), cursor={"page": 2})
    monkeypatch.undo()

    assert RawEvent.objects.filter(processed_at=None).count() == 4
    assert Message.objects.count() == 0
    assert Source.objects.get(pk=fake_source.pk).cursor == {}  # the cursor did not move

    result = process_pending(source=fake_source)

    assert result.messages == 4
    assert RawEvent.objects.filter(processed_at=None).count() == 0
    ingest_events(source=fake_source, events=batch())
    assert Message.objects.count() == 4


def test_an_unreadable_payload_is_recorded_and_the_rest_ingested(fake_source: Source) -> None:
    result = ingest_events(source=fake_source, events=[raw("ok"), raw("bad", boom=True)])

    assert (result.messages, result.failed) == (1, 1)
    bad = RawEvent.objects.get(external_id="bad")
    assert bad.processed_at is None
    assert "unreadable payload" in bad.error


def test_hostile_text_is_stored_safely(fake_source: Source) -> None:
    hostile = "<script>alert(1)</script>\x00\x07 \ud800 end" + "x" * 1_100_000
    ingest_events(source=fake_source, events=[raw("h", text=hostile)])

    text = Message.objects.get(external_id="h").text
    assert text.startswith("<script>alert(1)</script> ? end")
    assert len(text) == 1_000_000


def test_one_domain_event_per_batch(fake_source: Source) -> None:
    ingest_events(source=fake_source, events=batch())

    event = DomainEvent.objects.get(name="messages.ingested")
    assert len(event.data["created_ids"]) == 4


def test_poll_moves_cursor_and_marks_success(fake_source: Source, fake_connector: type[FakeConnector]) -> None:
    fake_connector.pages = [FetchResult(items=batch(), cursor={"since": "m4"})]

    result = poll_source(source_id=fake_source.pk)

    fake_source.refresh_from_db()
    assert result is not None
    assert result.created == 4
    assert fake_source.cursor == {"since": "m4"}
    assert fake_source.status == SourceStatus.ACTIVE
    assert fake_source.last_success_at is not None


def test_scheduler_claims_each_due_source_once(fake_source: Source) -> None:
    first = claim_due_sources()
    second = claim_due_sources()

    assert first == [fake_source.pk]
    assert second == []


def test_author_details_from_any_message_of_a_batch_are_kept(fake_source: Source) -> None:
    from communa.connectors.base import NormalizedIdentity, NormalizedMessage

    class WithEmail(FakeConnector):
        def normalize(self, item: Any) -> list[NormalizedMessage]:
            (message,) = super().normalize(item)
            email = item.payload.get("email", "")
            message.author = NormalizedIdentity(platform="fake", external_id=item.payload["author"], email=email)
            return [message]

    ingest_events(
        source=fake_source,
        events=[raw("m1", "ana", email="ana@example.org"), raw("m2", "ana", minutes=1)],
        connector=WithEmail(FakeConfig()),
    )

    assert Identity.objects.get(external_id="ana").email == "ana@example.org"


def test_a_message_and_its_deletion_in_one_batch_leave_a_blanked_row(fake_source: Source) -> None:
    ingest_events(
        source=fake_source,
        events=[
            raw("m1", text="oops, my password is hunter2"),
            raw("m1#del", text="", deleted=True, id="m1", minutes=1),
        ],
    )

    message = Message.objects.get(external_id="m1")
    assert (message.text, message.deleted_at is not None) == ("", True)
