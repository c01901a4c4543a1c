"""Moderation API: rules (validate, save with line and column, enable), the queue, decisions, appeals;
tenancy (another workspace's ids are 404) and roles (403, with nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.services import create_api_token
from communa.connectors.models import Source
from communa.moderation import selectors, services
from communa.moderation.live import evaluate_batch
from communa.moderation.models import Appeal, ModerationSettings, ReviewItem, RuleSet
from tests.moderation.conftest import RULES, enable, post

pytestmark = pytest.mark.django_db


def bearer(user: User) -> dict[str, str]:
    _token, plaintext = create_api_token(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def get(client: Client, user: User, url: str, slug: str = "acme") -> Any:
    return client.get(f"/api/v1/moderation{url}", {"workspace": slug}, **bearer(user))


def send(client: Client, user: User, url: str, body: dict[str, Any] | None = None, slug: str = "acme") -> Any:
    return client.post(
        f"/api/v1/moderation{url}?workspace={slug}", body or {}, content_type="application/json", **bearer(user)
    )


def test_rules_are_validated_saved_and_enabled(client: Client, manager: User, workspace: Workspace) -> None:
    assert get(client, manager, "/rules").status_code == 404
    bad = "rules:\n  - id: x\n    when: {regex: '(?<=a)b'}\n    actions: [queue]\n"
    checked = send(client, manager, "/rules/validate", {"text": bad}).json()
    assert checked["ok"] is False
    assert (checked["error"]["line"], checked["error"]["column"]) == (3, 19)
    assert send(client, manager, "/rules/validate", {"text": RULES}).json() == {
        "ok": True, "rules": ["no-insults", "spam-links"], "error": None
    }  # fmt: skip
    refused = send(client, manager, "/rules", {"text": bad})
    assert refused.status_code == 400
    assert refused.json()["line"] == 3
    assert RuleSet.objects.count() == 0
    saved = send(client, manager, "/rules", {"text": RULES, "comment": "v1", "modes": {"spam-links": "log_only"}})
    assert saved.status_code == 201
    assert (saved.json()["version"], saved.json()["live"], saved.json()["modes"]) == (
        1,
        False,
        {"spam-links": "log_only"},
    )
    assert send(client, manager, "/rules/1/enable").json()["live"] is True
    assert get(client, manager, "/rules").json()["live"] is True
    assert send(client, manager, "/rules/9/enable").status_code == 404


def test_roles_and_other_workspaces(
    client: Client, volunteer: User, outsider: User, analyst: User, manager: User, workspace: Workspace
) -> None:
    assert send(client, volunteer, "/rules", {"text": RULES}).status_code == 403
    assert get(client, analyst, "/queue").status_code == 403
    assert get(client, volunteer, "/appeals").status_code == 403
    assert get(client, outsider, "/queue").status_code == 404  # a workspace the caller is not in
    enable(workspace, manager)
    assert send(client, outsider, "/rules/1/enable", slug="rival").status_code == 404
    assert RuleSet.objects.count() == 1
    assert ModerationSettings.objects.get(workspace=workspace).active_rule_set is not None


def test_queue_decisions_and_appeals(
    client: Client, owner: User, manager: User, volunteer: User, workspace: Workspace, fake_source: Source
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap pills")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    [item] = get(client, volunteer, "/queue").json()
    assert (item["message_id"], item["text"], item["state"]) == (message.pk, "buy cheap pills", "open")
    assert item["explanation"]["rule_id"] == "spam-links"
    assert send(client, volunteer, f"/queue/{item['id']}/resolve", {"verdict": "ban"}).status_code == 403
    assert ReviewItem.objects.get().state == "open"
    decided = send(client, manager, f"/queue/{item['id']}/resolve", {"verdict": "ban"})
    assert decided.status_code == 200
    body = decided.json()
    assert (body["verdict"], body["moderator"], body["kind"]) == ("ban", "marco", "moderator")
    assert sorted(a["action"] for a in body["actions"]) == ["ban", "remove", "strike"]
    again = send(client, volunteer, f"/queue/{item['id']}/resolve", {"verdict": "remove"})
    assert again.status_code == 409
    decisions = get(client, volunteer, "/decisions").json()
    assert [d["verdict"] for d in decisions] == ["ban", "queue"]
    assert get(client, volunteer, f"/decisions/{body['id']}").json()["id"] == body["id"]
    assert get(client, outsider_of(workspace), f"/decisions/{body['id']}", slug="rival").status_code == 404

    decision = selectors.get_decision(workspace=workspace, decision_id=body["id"])
    appeal = services.submit_appeal(decision=decision, statement="Not spam, a joke")
    [listed] = get(client, owner, "/appeals").json()
    assert listed["id"] == appeal.pk
    refused = send(client, manager, f"/appeals/{appeal.pk}/decide", {"overturn": True})
    assert refused.status_code == 409
    ok = send(client, owner, f"/appeals/{appeal.pk}/decide", {"overturn": False, "response": "It stays."})
    assert (ok.status_code, ok.json()["state"], ok.json()["decided_by"]) == (200, "upheld", "olga")
    assert Appeal.objects.get().response == "It stays."


def outsider_of(workspace: Workspace) -> User:
    from communa.accounts.roles import Role
    from communa.accounts.services import add_member, create_workspace
    from tests.conftest import make_user

    user = make_user("ursula")
    rival = create_workspace(name="Rival", owner=user, slug="rival")
    add_member(workspace=rival, user=make_user("ugo"), role=Role.MANAGER)
    return user
