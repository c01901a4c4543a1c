"""The conversations API: list with filters and keyset pages, get, assign, state, reply, suggestions; roles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.services import create_api_token
from communa.connectors.models import Source
from communa.inbox.models import Conversation, Reply, Team
from communa.outbox.models import OutboxItem
from tests.conftest import FakeConnector
from tests.inbox.test_views_fixtures import conversation, ingest, raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def convs(workspace: Workspace, fake_source: Source) -> dict[str, Conversation]:
    m = ingest(
        fake_source,
        raw("q1", "ana", "How do I reset my password?", 0),
        raw("q2", "ben", "This is broken", 5),
        raw("q3", "cy", "Dove trovo le fatture?", 10, language="it"),
    )
    return {
        "reset": conversation(workspace, m["q1"], priority=35),
        "broken": conversation(workspace, m["q2"], priority=70, reason="complaint"),
        "invoices": conversation(workspace, m["q3"], priority=25, language="it"),
    }


def auth(user: User) -> dict[str, str]:
    _token, plaintext = create_api_token(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def post(client: Client, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_list_with_filters_and_pages(client: Client, manager: User, convs: dict[str, Conversation]) -> None:
    headers = auth(manager)
    first = client.get("/api/v1/conversations", {"limit": 2}, **headers).json()
    assert [c["id"] for c in first["items"]] == [convs["broken"].pk, convs["reset"].pk]
    assert first["items"][0]["priority_band"] == "urgent"
    assert first["items"][0]["reason"] == "complaint"
    second = client.get("/api/v1/conversations", {"limit": 2, "cursor": first["next_cursor"]}, **headers).json()
    assert ([c["id"] for c in second["items"]], second["next_cursor"]) == ([convs["invoices"].pk], None)
    italian = client.get("/api/v1/conversations", {"language": "it"}, **headers).json()
    assert [c["id"] for c in italian["items"]] == [convs["invoices"].pk]
    text = client.get("/api/v1/conversations", {"q": "password", "sort": "newest"}, **headers).json()
    assert [c["id"] for c in text["items"]] == [convs["reset"].pk]
    bad = client.get("/api/v1/conversations", {"cursor": "nope"}, **headers)
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["query", "cursor"])
    assert client.get("/api/v1/conversations", {"state": "closed"}, **headers).status_code == 422


def test_get_shows_the_timeline(client: Client, manager: User, convs: dict[str, Conversation]) -> None:
    detail = client.get(f"/api/v1/conversations/{convs['reset'].pk}", **auth(manager)).json()
    assert detail["subject"] == ""
    assert detail["member_name"] == "Ana"
    assert [(m["role"], m["text"], m["is_question"]) for m in detail["messages"]] == [
        ("member", "How do I reset my password?", True)
    ]
    assert (detail["replies"], detail["notes"], detail["first_response_seconds"]) == ([], [], None)


def test_assign_state_and_reply(
    client: Client, manager: User, owner: User, workspace: Workspace, convs: dict[str, Conversation],
    fake_connector: type[FakeConnector],
) -> None:  # fmt: skip
    headers = auth(manager)
    conv = convs["reset"]
    team = Team.objects.create(workspace=workspace, name="Support")
    base = f"/api/v1/conversations/{conv.pk}"
    assigned = post(client, f"{base}/assign", {"assignee": owner.pk, "team": team.pk, "version": conv.version}, headers)
    assert assigned.status_code == 200
    assert (assigned.json()["assignee_id"], assigned.json()["team_id"]) == (owner.pk, team.pk)
    version = assigned.json()["version"]

    stale = post(client, f"{base}/state", {"state": "pending", "version": version - 1}, headers)
    assert stale.status_code == 409
    assert stale.json()["conversation"]["state"] == "open"

    replied = post(client, f"{base}/replies", {"text": "Use the reset link.", "after": "resolved"}, headers)
    assert replied.status_code == 201
    assert (replied.json()["text"], replied.json()["author_id"]) == ("Use the reset link.", manager.pk)
    reply = Reply.objects.get(conversation=conv)
    assert reply.outbox_item is not None
    assert OutboxItem.objects.get(pk=reply.outbox_item.pk).origin == f"inbox.reply:{reply.pk}"
    conv.refresh_from_db()
    assert conv.state == "resolved"

    reopened = post(client, f"{base}/state", {"state": "open"}, headers)
    assert reopened.json()["state"] == "open"
    snooze = post(client, f"{base}/state", {"state": "snoozed"}, headers)
    assert (snooze.status_code, snooze.json()["detail"][0]["loc"]) == (422, ["body", "snoozed_until"])


def test_bad_references_are_422(
    client: Client, manager: User, outsider: User, other_workspace: Workspace, convs: dict[str, Conversation]
) -> None:
    headers = auth(manager)
    base = f"/api/v1/conversations/{convs['reset'].pk}"
    rival_team = Team.objects.create(workspace=other_workspace, name="Theirs")
    assert post(client, f"{base}/assign", {"assignee": outsider.pk}, headers).status_code == 422
    assert post(client, f"{base}/assign", {"team": rival_team.pk}, headers).status_code == 422
    assert post(client, f"{base}/replies", {"text": ""}, headers).status_code == 422
    assert post(client, f"{base}/replies", {"text": "hi", "saved_reply": 999}, headers).status_code == 422
    convs["reset"].refresh_from_db()
    assert (convs["reset"].assignee_id, convs["reset"].team_id) == (None, None)
    assert not Reply.objects.exists()


def test_roles(
    client: Client, analyst: User, volunteer: User, outsider: User, workspace: Workspace,
    convs: dict[str, Conversation],
) -> None:  # fmt: skip
    assert client.get("/api/v1/conversations", **auth(analyst)).status_code == 403
    Conversation.objects.filter(pk=convs["invoices"].pk).update(assignee=volunteer)
    mine = client.get("/api/v1/conversations", **auth(volunteer)).json()
    assert [c["id"] for c in mine["items"]] == [convs["invoices"].pk]
    hidden = client.get(f"/api/v1/conversations/{convs['reset'].pk}", **auth(volunteer))
    assert hidden.status_code == 404
    stranger = auth(outsider)
    assert client.get("/api/v1/conversations", {"workspace": "acme"}, **stranger).status_code == 404
    assert client.get(f"/api/v1/conversations/{convs['reset'].pk}", **stranger).status_code == 404
    assert (
        post(client, f"/api/v1/conversations/{convs['reset'].pk}/state", {"state": "resolved"}, stranger).status_code
        == 404
    )
    assert Conversation.objects.get(pk=convs["reset"].pk).state == "open"


def test_suggestions_endpoint(client: Client, manager: User, convs: dict[str, Conversation]) -> None:
    found = client.get(f"/api/v1/conversations/{convs['reset'].pk}/suggestions", **auth(manager)).json()
    assert found == {"question_id": convs["reset"].first_message_id, "answered": [], "saved_replies": []}
