"""The inbox against a real Synapse: a member's question becomes a conversation, the team's reply goes out
through the outbox into the question's thread exactly once, and comes back through ingest linked to the
conversation as the team's message, not as a second message."""

from __future__ import annotations

import pytest

from communa.accounts.models import User, Workspace
from communa.connectors.matrix.connector import MatrixConnector
from communa.enrichment.tables import MessageSignals
from communa.events.models import DomainEvent
from communa.inbox import selectors, services
from communa.inbox.models import Conversation, ConversationMessage, Reply
from communa.inbox.triage import triage_messages
from communa.outbox import services as outbox
from communa.stream.models import Message
from tests.connectors.test_matrix_synapse import bot_config, community_room, matrix_source, sync_and_ingest
from tests.servers.synapse import SynapseServer

pytestmark = [pytest.mark.server, pytest.mark.django_db]


def enriched(workspace: Workspace, source_id: int, *, question: str = "") -> list[int]:
    """Store signals as enrichment would (the question signal for `question`), return the new message ids."""
    new = list(Message.objects.filter(source_id=source_id, signals__isnull=True).values_list("pk", "external_id"))
    for pk, external_id in new:
        MessageSignals.objects.create(
            message_id=pk, workspace=workspace, language="en", sentiment="neutral", is_question=external_id == question
        )
    return [pk for pk, _ in new]


def test_a_question_answered_from_the_inbox_arrives_once_in_its_thread(
    synapse: SynapseServer, workspace: Workspace, manager: User
) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    source = matrix_source(workspace, connector.config)
    sync_and_ingest(source, connector)
    enriched(workspace, source.pk)
    question = synapse.member.say(room, "Does the Vela grinder work with 220 V?")
    sync_and_ingest(source, connector)
    triage_messages(workspace_id=workspace.pk, message_ids=enriched(workspace, source.pk, question=question))
    conversation = Conversation.objects.get(workspace=workspace)
    assert (conversation.reason, conversation.channel, conversation.state) == ("question", room, "open")
    services.assign(conversation=conversation, actor=manager, assignee=manager)

    reply = services.send_reply(conversation=conversation, author=manager, text="Yes, 220–240 V worldwide.")
    assert reply.outbox_item_id is not None
    assert outbox.deliver(item_id=reply.outbox_item_id) == "sent"
    assert outbox.deliver(item_id=reply.outbox_item_id) == "sent"  # a second task does not send again
    sent = DomainEvent.objects.get(name="outbox.sent")
    services.on_outbox_event(name=sent.name, data=sent.data)
    reply.refresh_from_db()
    assert reply.state == "sent"
    assert reply.external_id.startswith("$")

    # The room has the reply once, in the question's thread.
    bot_events = [
        e for e in synapse.member.timeline(room) if e["type"] == "m.room.message" and e["sender"] == synapse.bot.user_id
    ]
    assert [e["content"]["body"] for e in bot_events] == ["Yes, 220–240 V worldwide."]
    relation = bot_events[0]["content"]["m.relates_to"]
    assert (relation["rel_type"], relation["event_id"]) == ("m.thread", question)

    # It comes back through ingest: one message, linked as the team's, the Reply pointing at it.
    sync_and_ingest(source, connector)
    triage_messages(workspace_id=workspace.pk, message_ids=enriched(workspace, source.pk))
    echoed = Message.objects.get(source=source, external_id=reply.external_id)
    assert Message.objects.filter(source=source, text="Yes, 220–240 V worldwide.").count() == 1
    assert ConversationMessage.objects.get(message=echoed).role == "staff"
    assert Reply.objects.get(pk=reply.pk).message_id == echoed.pk
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.sent_at
    assert [e.kind for e in selectors.timeline(conversation=conversation) if e.kind != "activity"] == [
        "message",
        "reply",
    ]
