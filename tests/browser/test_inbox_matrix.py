"""Done when: a member asks a question on the real Matrix server, it appears in the inbox with a suggested
answer, the manager assigns it, replies, and the reply arrives in the Matrix room exactly once; the
conversation shows the first-response time.

Real: Synapse (tests/servers/synapse.py), the Matrix connector, enrichment's models, triage, the outbox and
Chromium. The tasks run immediately (ImmediateBackend) so that each step follows the previous one in order;
the polls that a worker's listener would make are made by the test.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from communa.accounts.models import User, Workspace
from communa.connectors.matrix.connector import MatrixConfig
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.enrichment.services import enrich_messages
from communa.inbox.models import Conversation, Reply
from communa.ingest.polling import poll_source
from communa.members.models import Member
from communa.stream.models import Message
from tests.browser.test_inbox_page import shot, sign_in
from tests.browser.test_stream_browser import browser  # noqa: F401 (the fixture)
from tests.conftest import FakeConfig
from tests.e2e.matrix import community_room
from tests.inbox.test_views_fixtures import ingest, raw
from tests.servers.synapse import SynapseServer

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
ANSWER = "Open Settings > Security and choose 'Reset password'; the link arrives by email."


@pytest.fixture
def laptop(browser: Any, live_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def answered_before(workspace: Workspace, fake_connector: Any) -> Source:
    """Last month on the forum: the same question, answered by the team."""
    forum = create_source(workspace=workspace, kind="fake", name="Forum", config=FakeConfig(), actor=None)
    m = ingest(
        forum,
        raw("old-q", "lucia", "How do I reset my password?", 0),
        raw("old-a", "support", ANSWER, 20, parent="old-q"),
    )
    Member.objects.filter(identities__external_id="support").update(is_staff=True)
    enrich_messages(message_ids=[msg.pk for msg in m.values()])
    return forum


def poll_until(source: Source, done: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poll_source(source_id=source.pk)
        if done():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {seconds:g} s")


def bot_messages(synapse: SynapseServer, room: str) -> list[str]:
    return [
        event["content"].get("body", "")
        for event in synapse.member.timeline(room)
        if event["type"] == "m.room.message" and event["sender"] == synapse.bot.user_id
    ]


def test_a_matrix_question_is_answered_from_the_inbox_exactly_once(
    synapse: SynapseServer, laptop: Any, workspace: Workspace, manager: User, answered_before: Source
) -> None:
    page = laptop
    room = community_room(synapse, name=f"Support {secrets.token_hex(3)}")
    config = MatrixConfig.model_validate(
        {"homeserver": synapse.base_url, "user_id": synapse.bot.user_id,
         "access_token": synapse.bot.access_token, "rooms": [room], "sync_timeout_seconds": 0}
    )  # fmt: skip
    matrix = create_source(workspace=workspace, kind="matrix", name="Matrix support", config=config, actor=None)
    question = f"How can I reset my password? I am locked out ({secrets.token_hex(2)})"
    with override_settings(TASKS=IMMEDIATE):
        poll_source(source_id=matrix.pk)  # the bot joins; the room's history so far
        event_id = synapse.member.say(room, question)

        def opened() -> bool:
            return Conversation.objects.filter(workspace=workspace, source=matrix).exists()

        poll_until(matrix, opened, "a conversation for the member's question")
        conversation = Conversation.objects.get(workspace=workspace, source=matrix)
        assert conversation.first_message is not None
        assert conversation.first_message.external_id == event_id
        assert conversation.reason == "question"

        sign_in(page, manager)
        row = page.locator(f"[data-row][data-id='{conversation.pk}']")
        assert question in row.inner_text()
        row.locator("[data-row-link]").click()
        page.wait_for_selector(f"[data-conversation='{conversation.pk}']")
        page.wait_for_selector("[data-suggestion]")
        assert ANSWER in page.locator("#conv-suggestions").inner_text()
        assert "not yet" in page.locator("[data-first-response]").inner_text()
        shot(page, "inbox-matrix-question")

        page.locator("[data-assign]").select_option(str(manager.pk))
        page.wait_for_function(
            f"document.querySelector('[data-assign]').value === '{manager.pk}'"
            " && !document.querySelector('.htmx-request')"
        )
        page.wait_for_load_state()
        conversation.refresh_from_db()
        assert conversation.assignee == manager

        page.get_by_role("button", name="Use this answer").click()
        assert page.locator("[data-reply-text]").input_value() == ANSWER
        page.get_by_role("button", name="Send", exact=True).click()
        page.wait_for_selector("[data-reply-state='sent']")
        reply = Reply.objects.get(conversation=conversation)
        assert (reply.state, reply.author) == ("sent", manager)
        assert bot_messages(synapse, room) == [ANSWER]

        # The reply comes back through the Matrix sync: linked to the reply, never a second message.
        def linked() -> bool:
            return Reply.objects.filter(pk=reply.pk).exclude(message=None).exists()

        poll_until(matrix, linked, "the sent reply coming back through ingest")
        assert Message.objects.filter(source=matrix, text=ANSWER).count() == 1
        conversation.refresh_from_db()
        assert conversation.first_response_at is not None

        page.reload()
        first = page.locator("[data-first-response]").inner_text()
        assert re.fullmatch(r"\d+ (second|seconds|minute|minutes)", first), first
        shot(page, "inbox-matrix-answered")
        timeline = page.locator("#conv-timeline").inner_text()
        assert timeline.count(ANSWER) == 1
        assert bot_messages(synapse, room) == [ANSWER]  # exactly once in the room
