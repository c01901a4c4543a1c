"""The inbox page: list, filters, views, the conversation with its context, writes, roles, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.inbox import services
from communa.inbox.models import (
    Activity,
    Composing,
    Conversation,
    InternalNote,
    Reply,
    SavedReply,
    Team,
    TeamMembership,
)
from communa.members.models import Member
from tests.conftest import FakeConnector, login
from tests.inbox.test_views_fixtures import conversation, ingest, raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def convs(workspace: Workspace, fake_source: Source) -> dict[str, Conversation]:
    m = ingest(
        fake_source,
        raw("q1", "ana", "How do I reset my password?", 0),
        raw("q2", "ben", "Your app <script>alert(1)</script> is broken!", 5),
        raw("q3", "cy", "Come si cambia la lingua?", 10, language="it"),
        raw("q4", "ana", "Thanks, solved", 20),
    )
    return {
        "reset": conversation(workspace, m["q1"], priority=35),
        "broken": conversation(workspace, m["q2"], priority=70, reason="complaint"),
        "lingua": conversation(workspace, m["q3"], priority=25, language="it"),
        "done": conversation(workspace, m["q4"], state="resolved", priority=10),
    }


def url(name: str, *args: Any) -> str:
    return reverse(f"inbox:{name}", args=["acme", *args])


def listed(response: Any) -> list[int]:
    return [row.pk for row in response.context["rows"]]


def test_the_list_is_most_urgent_first_and_escapes_platform_text(
    client: Client, manager: User, convs: dict[str, Conversation]
) -> None:
    login(client, manager)
    response = client.get(url("index"))
    assert response.status_code == 200
    assert listed(response) == [convs["broken"].pk, convs["reset"].pk, convs["lingua"].pk]
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert response.context["counts"] == {"open": 3, "mine": 0, "unassigned": 3, "pending": 0, "snoozed": 0}
    assert 'href="/w/acme/inbox/"' in html  # the nav's Inbox link


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "resolved"}, ["done"]),
        ({"state": "all", "sort": "oldest"}, ["reset", "broken", "lingua", "done"]),
        ({"priority": "urgent"}, ["broken"]),
        ({"priority": "normal"}, ["reset", "lingua"]),
        ({"priority": "low"}, []),
        ({"language": "it"}, ["lingua"]),
        ({"q": "password"}, ["reset"]),
        ({"q": "Ben"}, ["broken"]),  # the member's name
        ({"sort": "newest"}, ["lingua", "broken", "reset"]),
        ({"assignee": "unassigned", "state": "bogus", "priority": "nonsense"}, ["broken", "reset", "lingua"]),
    ],
)
def test_filters(
    client: Client, manager: User, convs: dict[str, Conversation], query: dict[str, str], expected: list[str]
) -> None:
    login(client, manager)
    assert listed(client.get(url("index"), query)) == [convs[name].pk for name in expected]


def test_filters_by_assignee_team_and_source(
    client: Client, manager: User, owner: User, workspace: Workspace, convs: dict[str, Conversation]
) -> None:
    team = Team.objects.create(workspace=workspace, name="Support")
    Conversation.objects.filter(pk=convs["reset"].pk).update(assignee=manager)
    Conversation.objects.filter(pk=convs["lingua"].pk).update(team=team)
    other = Source.objects.create(workspace=workspace, kind="fake", name="Other")
    Conversation.objects.filter(pk=convs["broken"].pk).update(source=other)
    login(client, manager)
    assert listed(client.get(url("index"), {"assignee": "me"})) == [convs["reset"].pk]
    assert listed(client.get(url("index"), {"assignee": str(manager.pk)})) == [convs["reset"].pk]
    assert listed(client.get(url("index"), {"team": str(team.pk)})) == [convs["lingua"].pk]
    assert listed(client.get(url("index"), {"source": str(other.pk)})) == [convs["broken"].pk]
    response = client.get(url("index"), {"assignee": "me"})
    assert response.context["view"] == "mine"
    assert response.context["counts"]["mine"] == 1


def test_keyset_pages_walk_every_row_once(
    client: Client, manager: User, workspace: Workspace, fake_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    from communa.inbox import listing

    monkeypatch.setattr(listing, "PAGE_SIZE", 4)
    items = [raw(f"p{i}", f"u{i}", f"question {i}?", i) for i in range(10)]
    made = ingest(fake_source, *items)
    ids = [conversation(workspace, made[f"p{i}"], priority=[50, 20][i % 2]).pk for i in range(10)]
    login(client, manager)
    seen: list[int] = []
    cursor = ""
    for _ in range(5):
        response = client.get(
            url("index"), {"cursor": cursor} if cursor else {}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-more"
        )
        seen += listed(response)
        cursor = response.context["page"].next_cursor
        if not cursor:
            break
    by_priority = sorted(ids, key=lambda pk: (-[50, 20][ids.index(pk) % 2], -ids.index(pk)))
    assert seen == by_priority
    assert client.get(url("index"), {"cursor": "garbage"}).status_code == 404


def test_the_list_poll_answers_204_when_nothing_changed(
    client: Client, manager: User, convs: dict[str, Conversation]
) -> None:
    login(client, manager)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}
    first = client.get(url("index"), **headers)
    fingerprint = first.context["fingerprint"]
    assert client.get(url("index"), {"fingerprint": fingerprint}, **headers).status_code == 204
    Conversation.objects.filter(pk=convs["lingua"].pk).update(version=9)
    changed = client.get(url("index"), {"fingerprint": fingerprint}, **headers)
    assert changed.status_code == 200
    assert 'class="inbox-list"' in changed.content.decode()


def test_the_conversation_page_shows_the_member_context(
    client: Client, manager: User, workspace: Workspace, convs: dict[str, Conversation]
) -> None:
    login(client, manager)
    response = client.get(url("conversation", convs["reset"].pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "How do I reset my password?" in html
    assert [c.pk for c in response.context["past"]] == [convs["done"].pk]  # ana's other conversation
    assert [m.external_id for m in response.context["recent"]] == ["q4", "q1"]
    assert [i.external_id for i in response.context["identities"]] == ["ana"]
    assert listed(response) == [convs["broken"].pk, convs["reset"].pk, convs["lingua"].pk]  # the list pane too
    pane = client.get(
        url("conversation", convs["reset"].pk), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-conversation"
    )
    assert "inbox-list" not in pane.content.decode()
    assert f'data-conversation="{convs["reset"].pk}"' in pane.content.decode()


def test_query_counts_are_pinned(
    client: Client, manager: User, workspace: Workspace, fake_source: Source, django_assert_num_queries: Any
) -> None:
    """No N+1: the same number of queries for 3 or 30 conversations, and for a long conversation."""
    items = [raw(f"n{i}", f"user{i}", f"question number {i}?", i) for i in range(30)]
    made = ingest(fake_source, *items)
    team = Team.objects.create(workspace=workspace, name="Support")
    for i in range(30):
        conv = conversation(workspace, made[f"n{i}"], priority=i)
        if i % 3 == 0:
            Conversation.objects.filter(pk=conv.pk).update(assignee=manager, team=team)
    login(client, manager)
    # The first page of a workspace reads the pickers (people, teams, sources, shared views: 4 queries) and
    # caches them.
    with django_assert_num_queries(10):
        client.get(url("index"))
    # session, user, membership, the page of rows, the capped tab counts (one UNION ALL), the navigation's
    # workspaces and permissions
    with django_assert_num_queries(6):
        client.get(url("index"))
    # the list's poll: a fragment without the navigation or the views (so without their counts); when the page of
    # rows did not change, a 204 after the same four queries
    with django_assert_num_queries(4):
        poll = client.get(url("index"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-list")
    with django_assert_num_queries(4):
        fingerprint = {"fingerprint": poll.context["fingerprint"]}
        unchanged = client.get(url("index"), fingerprint, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-list")
    assert unchanged.status_code == 204
    conv = Conversation.objects.filter(workspace=workspace).order_by("pk").first()
    assert conv is not None
    for i in range(5):
        services.add_note(conversation=conv, author=manager, text=f"note {i} @marco")
    # session, user, membership, the conversation (with whether it has replies, notes and activity), its
    # timeline (items, notes and their mentions; no replies nor activity here: not asked for), who is composing,
    # identities, recent activity, past conversations; the full page adds the list pane's two and the navigation
    with django_assert_num_queries(14):
        page = client.get(url("conversation", conv.pk))
    with django_assert_num_queries(11):
        client.get(url("conversation", conv.pk), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-conversation")
    # the live poll when nothing changed: the conversation with its newest reply and note folded in, and who
    # is composing
    with django_assert_num_queries(5):
        live = client.get(url("live", conv.pk), {"v": page.context["live"]}, HTTP_HX_REQUEST="true")
    assert live.context["changed"] is False


def test_a_new_team_shows_in_the_pickers_at_once(
    client: Client, manager: User, workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    login(client, manager)
    assert client.get(url("index")).context["teams"] == []  # cached for OPTIONS_SECONDS from here
    with django_capture_on_commit_callbacks(execute=True):
        team = services.create_team(workspace=workspace, actor=manager, name="Billing")
    assert client.get(url("index")).context["teams"] == [(team.pk, "Billing")]


def test_assign_state_priority_note_and_reply(
    client: Client, manager: User, owner: User, workspace: Workspace, convs: dict[str, Conversation],
    fake_connector: type[FakeConnector],
) -> None:  # fmt: skip
    conv = convs["reset"]
    login(client, manager)
    client.post(url("assign", conv.pk), {"assignee": str(owner.pk), "version": conv.version})
    conv.refresh_from_db()
    assert conv.assignee == owner
    client.post(url("priority", conv.pk), {"priority": "90", "version": conv.version})
    conv.refresh_from_db()
    assert (conv.priority, conv.priority_override) == (90, 90)
    client.post(url("note", conv.pk), {"text": "@olga please check"})
    note = InternalNote.objects.get(conversation=conv)
    assert list(note.mentions.all()) == [owner]
    response = client.post(
        url("reply", conv.pk), {"text": "Use the reset link.", "after": "pending", "query": "state=all"}
    )
    assert response["Location"] == url("conversation", conv.pk) + "?state=all"
    reply = Reply.objects.get(conversation=conv)
    assert (reply.text, reply.author, reply.outbox_item is not None) == ("Use the reset link.", manager, True)
    conv.refresh_from_db()
    assert conv.state == "pending"
    client.post(url("state", conv.pk), {"state": "resolved", "version": conv.version})
    conv.refresh_from_db()
    assert conv.state == "resolved"
    response = client.get(url("conversation", conv.pk))
    page = response.content.decode()
    assert "Use the reset link." in page
    assert "@olga please check" in page
    # the page asks for replies, notes and activity only when the conversation has some: here it has all three
    assert {"message", "reply", "note", "activity"} <= {e.kind for e in response.context["timeline"]}


def test_two_people_resolving_at_once(
    client: Client, manager: User, owner: User, convs: dict[str, Conversation]
) -> None:
    conv = convs["reset"]
    version = conv.version
    login(client, manager)
    client.post(url("state", conv.pk), {"state": "resolved", "version": version})
    other = Client()
    login(other, owner)
    response = other.post(url("state", conv.pk), {"state": "resolved", "version": version}, follow=True)
    assert response.status_code == 200
    conv.refresh_from_db()
    assert (conv.state, conv.resolved_by) == ("resolved", manager)
    assert Activity.objects.filter(conversation=conv, kind="state").count() == 1
    # A stale change of another kind is refused with an explanation, not applied.
    response = other.post(url("state", conv.pk), {"state": "pending", "version": version}, follow=True)
    assert "Someone else changed this conversation" in response.content.decode()
    conv.refresh_from_db()
    assert conv.state == "resolved"


def test_an_empty_reply_keeps_nothing_lost(client: Client, manager: User, convs: dict[str, Conversation]) -> None:
    login(client, manager)
    response = client.post(url("reply", convs["reset"].pk), {"text": "   "}, follow=True)
    assert "A reply needs text." in response.content.decode()
    assert not Reply.objects.exists()


def test_composing_shows_the_collision_warning(
    client: Client, manager: User, owner: User, convs: dict[str, Conversation]
) -> None:
    conv = convs["reset"]
    login(client, owner)
    assert client.post(url("composing", conv.pk)).status_code == 204
    assert Composing.objects.filter(conversation=conv, user=owner).exists()
    login(client, manager)
    live = client.get(url("live", conv.pk), {"v": "stale"})
    assert "olga is replying right now." in live.content.decode()
    assert 'id="conv-timeline"' in live.content.decode()  # something changed since "stale": the timeline again
    fingerprint = live.context["live"]
    quiet = client.get(url("live", conv.pk), {"v": fingerprint})
    assert 'id="conv-timeline"' not in quiet.content.decode()
    login(client, owner)
    client.post(url("composing", conv.pk), {"stop": "1"})
    assert not Composing.objects.filter(conversation=conv, user=owner).exists()


def test_bulk_actions(client: Client, manager: User, owner: User, convs: dict[str, Conversation]) -> None:
    login(client, manager)
    ids = [convs["reset"].pk, convs["broken"].pk]
    client.post(url("bulk"), {"ids": ids, "action": "assign", "assignee": str(owner.pk)})
    assert set(Conversation.objects.filter(pk__in=ids).values_list("assignee_id", flat=True)) == {owner.pk}
    client.post(url("bulk"), {"ids": ids, "action": "snoozed", "snooze": "4h"})
    assert set(Conversation.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"snoozed"}
    response = client.post(url("bulk"), {"ids": ids, "action": "resolved"}, follow=True)
    assert "2 conversations updated." in response.content.decode()
    assert Conversation.objects.get(pk=convs["lingua"].pk).state == "open"


def test_the_saved_reply_picker_renders_for_the_member(
    client: Client, manager: User, workspace: Workspace, convs: dict[str, Conversation]
) -> None:
    SavedReply.objects.create(
        workspace=workspace, title="Reset", shortcut="reset", body="Hi {first_name}, use the link."
    )
    SavedReply.objects.create(workspace=workspace, title="Refund", shortcut="refund", body="Refunds take 14 days.")
    login(client, manager)
    html = client.get(url("saved_replies", convs["reset"].pk), {"q": "res"}).content.decode()
    assert "Hi Ana, use the link." in html
    assert "Refunds" not in html


def test_volunteers_see_only_their_own(
    client: Client, volunteer: User, workspace: Workspace, convs: dict[str, Conversation]
) -> None:
    team = Team.objects.create(workspace=workspace, name="Italian volunteers")
    TeamMembership.objects.create(team=team, user=volunteer)
    Conversation.objects.filter(pk=convs["lingua"].pk).update(team=team)
    Conversation.objects.filter(pk=convs["broken"].pk).update(assignee=volunteer)
    login(client, volunteer)
    assert listed(client.get(url("index"))) == [convs["broken"].pk, convs["lingua"].pk]
    assert client.get(url("conversation", convs["reset"].pk)).status_code == 404
    assert client.post(url("state", convs["reset"].pk), {"state": "resolved"}).status_code == 404
    client.post(url("bulk"), {"ids": [convs["reset"].pk], "action": "resolved"})
    assert Conversation.objects.get(pk=convs["reset"].pk).state == "open"
    assert client.post(url("state", convs["lingua"].pk), {"state": "resolved"}).status_code == 302
    assert Conversation.objects.get(pk=convs["lingua"].pk).state == "resolved"


def test_roles_without_an_inbox_and_outsiders(
    client: Client, analyst: User, outsider: User, convs: dict[str, Conversation]
) -> None:
    login(client, analyst)
    assert client.get(url("index")).status_code == 403
    assert client.post(url("reply", convs["reset"].pk), {"text": "hi"}).status_code == 403
    login(client, outsider)
    assert client.get(url("index")).status_code == 404
    assert client.post(url("reply", convs["reset"].pk), {"text": "hi"}).status_code == 404
    rival = reverse("inbox:conversation", args=["rival", convs["reset"].pk])
    assert client.get(rival).status_code == 404
    assert not Reply.objects.exists()
    assert Member.objects.filter(is_staff=True).count() == 0


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("it", "Una risposta deve avere un testo."),
        ("es", "Una respuesta necesita texto."),
        ("ru", "Ответу нужен текст."),
    ],
)
def test_reply_and_note_errors_are_translated(
    client: Client, manager: User, convs: dict[str, Conversation], language: str, expected: str
) -> None:
    login(client, manager)
    response = client.post(url("reply", convs["reset"].pk), {"text": " "}, follow=True, HTTP_ACCEPT_LANGUAGE=language)
    assert expected in response.content.decode()
    note = {"it": "Una nota deve avere un testo.", "es": "Una nota necesita texto.", "ru": "Заметке нужен текст."}
    response = client.post(url("note", convs["reset"].pk), {"text": ""}, follow=True, HTTP_ACCEPT_LANGUAGE=language)
    assert note[language] in response.content.decode()
    with translation.override(language):
        too_long = "x" * (services.MAX_REPLY_LENGTH + 1)
        with pytest.raises(services.InboxError, match=str(services.MAX_REPLY_LENGTH)) as raised:
            services.send_reply(conversation=convs["reset"], author=manager, text=too_long)
        assert "reply is at most" not in str(raised.value)  # the message itself is translated
    assert not Reply.objects.exists()
