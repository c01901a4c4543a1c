"""Replying through the outbox: the target, delivery state mirrored on the Reply, a refusal kept editable,
the sent message coming back through ingest linked as the brand's (not duplicated), first response once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from communa.accounts.models import User, Workspace
from communa.connectors.base import ReplyTarget
from communa.connectors.models import Source
from communa.core.http import PermanentError
from communa.events.models import DomainEvent
from communa.inbox import selectors, services
from communa.inbox.models import Conversation, ConversationMessage, Reply
from communa.inbox.services import InboxError
from communa.outbox import services as outbox
from communa.outbox.models import OutboxItem
from communa.stream.models import Message
from tests.conftest import T0, FakeConnector
from tests.inbox.conftest import events, post, triage

pytestmark = pytest.mark.django_db


def deliver(reply: Reply) -> str:
    """Run the outbox task and hand its event to the inbox, as the dispatcher would."""
    reply.refresh_from_db()
    assert reply.outbox_item_id is not None
    state = outbox.deliver(item_id=reply.outbox_item_id)
    event = DomainEvent.objects.filter(name__startswith="outbox.", data__item_id=reply.outbox_item_id).last()
    assert event is not None
    services.on_outbox_event(name=event.name, data=event.data)
    reply.refresh_from_db()
    return state


def opened(workspace: Workspace, source: Source) -> Conversation:
    root = post(source, "q0", "ana", "Is decaf available?", question=True, metadata={"room_id": "!room:x"})
    follow = post(source, "q1", "ana", "In 1 kg bags?", 2, parent="q0", question=True, metadata={"room_id": "!room:x"})
    triage(workspace, root, follow)
    return Conversation.objects.get()


def test_a_reply_goes_out_once_and_comes_back_linked(workspace: Workspace, source: Source, manager: User) -> None:
    c = opened(workspace, source)
    reply = services.send_reply(conversation=c, author=manager, text="  Yes, from Monday!  ")
    item = OutboxItem.objects.get()
    assert (reply.text, reply.state, reply.idempotency_key, reply.in_reply_to_id) == (
        "Yes, from Monday!",
        "pending",
        f"inbox-reply-{reply.pk}-1",
        c.last_member_message_id,
    )
    assert (item.origin, item.idempotency_key, item.created_by_id) == (
        f"inbox.reply:{reply.pk}",
        reply.idempotency_key,
        manager.pk,
    )
    assert item.payload["target"] == {
        "channel": "!room:x",
        "message_external_id": "q1",
        "thread_external_id": "q0",
        "recipient": "",
        "subject": "",
        "references": [],
    }
    assert deliver(reply) == "sent"
    assert (reply.state, reply.external_id, reply.error) == ("sent", "sent-1", "")
    assert [w["text"] for w in FakeConnector.writes] == ["Yes, from Monday!"]
    assert FakeConnector.writes[0]["target"] == ReplyTarget(
        channel="!room:x", message_external_id="q1", thread_external_id="q0"
    )
    c.refresh_from_db()
    sent_at = reply.sent_at
    assert sent_at is not None
    assert (c.first_response_at, c.waiting_since) == (sent_at, None)
    assert [e["by"] for e in events("conversation.first_response")] == ["staff"]
    assert [e["answered_by"] for e in events("question.answered")] == ["staff", "staff"]
    # The platform echoes the reply: ingest stores it, triage links it as the brand's, once.
    echoed = post(source, "sent-1", "communa-bot", "Yes, from Monday!", 3, parent="q1")
    triage(workspace, echoed)
    triage(workspace, echoed)
    reply.refresh_from_db()
    assert reply.message_id == echoed.pk
    assert Message.objects.filter(source=source, external_id="sent-1").count() == 1
    assert list(ConversationMessage.objects.filter(message=echoed).values_list("role", flat=True)) == ["staff"]
    assert len(events("conversation.first_response")) == 1
    # The timeline shows it once, as the reply.
    kinds = [
        (e.kind, getattr(e.item, "message_id", None))
        for e in selectors.timeline(conversation=c)
        if e.kind != "activity"
    ]
    assert [k for k, _ in kinds] == ["message", "message", "reply"]


def test_the_echo_arriving_before_the_outbox_news_is_still_the_brands(
    workspace: Workspace, source: Source, manager: User
) -> None:
    c = opened(workspace, source)
    reply = services.send_reply(conversation=c, author=manager, text="Yes")
    assert outbox.deliver(item_id=reply.outbox_item_id or 0) == "sent"
    echoed = post(source, "sent-1", "communa-bot", "Yes", 3, parent="q1")
    triage(workspace, echoed)  # the outbox already knows it sent "sent-1" (sent_item_for)
    assert ConversationMessage.objects.get(message=echoed).role == "staff"
    event = DomainEvent.objects.get(name="outbox.sent")
    services.on_outbox_event(name=event.name, data=event.data)
    services.on_outbox_event(name=event.name, data=event.data)  # delivered twice: no change
    reply.refresh_from_db()
    assert (reply.state, reply.message_id) == ("sent", echoed.pk)
    assert len(events("conversation.first_response")) == 1
    c.refresh_from_db()
    assert c.first_response_at == T0 + timedelta(minutes=3)  # the echo's time: it came first


def test_a_refused_reply_keeps_its_text_and_reason_and_can_be_sent_again(
    workspace: Workspace, source: Source, manager: User
) -> None:
    c = opened(workspace, source)
    FakeConnector.fail_next = [PermanentError("M_FORBIDDEN: you are not allowed to send in this room")]
    reply = services.send_reply(conversation=c, author=manager, text="Yes")
    assert deliver(reply) == "failed"
    assert (reply.state, reply.error, reply.text) == (
        "failed",
        "M_FORBIDDEN: you are not allowed to send in this room",
        "Yes",
    )
    c.refresh_from_db()
    assert c.first_response_at is None
    again = services.retry_reply(reply=reply, actor=manager, text="Yes, we have it")
    assert (again.pk, again.attempt, again.idempotency_key, again.state, again.error) == (
        reply.pk,
        2,
        f"inbox-reply-{reply.pk}-2",
        "pending",
        "",
    )
    assert deliver(again) == "sent"
    assert [w["text"] for w in FakeConnector.writes] == ["Yes, we have it"]
    with pytest.raises(InboxError, match="Only a reply the platform refused"):
        services.retry_reply(reply=again, actor=manager, text="again")
    # The first attempt's news, arriving late, does not overwrite the second.
    first_failure = DomainEvent.objects.filter(name="outbox.failed").first()
    assert first_failure is not None
    services.on_outbox_event(name=first_failure.name, data=first_failure.data)
    again.refresh_from_db()
    assert again.state == "sent"


def test_send_and_resolve(workspace: Workspace, source: Source, manager: User) -> None:
    c = opened(workspace, source)
    services.mark_composing(conversation=c, user=manager)
    services.send_reply(conversation=c, author=manager, text="Done", state_after="resolved")
    c.refresh_from_db()
    assert c.state == "resolved"
    assert selectors.others_composing(conversation=c, user=manager) == []
    with pytest.raises(InboxError, match="A reply needs text"):
        services.send_reply(conversation=c, author=manager, text=" ")


def test_an_email_reply_names_the_recipient_subject_and_references(
    workspace: Workspace, source: Source, manager: User
) -> None:
    mail = post(
        source,
        "<b@mail.example>",
        "ana",
        "My order never arrived",
        question=True,
        kind="email",
        title="Re: Order 1234",
        metadata={
            "channel": "INBOX",
            "message_id": "<b@mail.example>",
            "from": "ana@example.org",
            "reply_to": ["ana.private@example.org"],
            "references": ["<a@mail.example>"],
        },
    )
    triage(workspace, mail)
    c = Conversation.objects.get()
    assert c.kind == "email"
    target, answered = services.reply_target(c)
    assert answered == mail
    assert target == ReplyTarget(
        channel="INBOX",
        message_external_id="<b@mail.example>",
        recipient="ana.private@example.org",
        subject="Re: Order 1234",
        references=("<a@mail.example>", "<b@mail.example>"),
    )


def test_nobody_outside_may_reply(workspace: Workspace, source: Source, analyst: User, outsider: User) -> None:
    c = opened(workspace, source)
    for user in (analyst, outsider):
        with pytest.raises(PermissionError):
            services.send_reply(conversation=c, author=user, text="hi")
    assert Reply.objects.count() == 0
    assert OutboxItem.objects.count() == 0
