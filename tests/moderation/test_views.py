"""Moderation pages: who sees what (404 outsiders, 403 roles), the editor's errors, backtest → enable, the queue's
one-key actions, appeals, reports and the member panel."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from communa.moderation import services
from communa.moderation.live import evaluate_batch
from communa.moderation.models import Appeal, Decision, ModerationSettings, ReviewItem, RuleSet, Strike
from tests.conftest import login
from tests.moderation.conftest import RULES, enable, post
from tests.moderation.test_api import bearer

pytestmark = pytest.mark.django_db
BASE = "/w/acme/moderation/"


@pytest.fixture
def queued(workspace: Workspace, manager: User, fake_source: Source) -> ReviewItem:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap watches here")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    return ReviewItem.objects.get()


@pytest.mark.parametrize(
    "path",
    ["", "rules/", "decisions/", "appeals/", "reports/?days=7"],
)
def test_every_page_renders_for_the_manager(client: Client, manager: User, queued: ReviewItem, path: str) -> None:
    response = login(client, manager).get(BASE + path)
    assert response.status_code == 200


def test_outsiders_get_404_and_roles_without_the_permission_403(
    client: Client, outsider: User, analyst: User, volunteer: User, queued: ReviewItem
) -> None:
    login(client, outsider)
    for path in ("", "rules/", f"items/{queued.pk}/claim/", "member/1/panel"):
        assert client.get(BASE + path).status_code in (404, 405)
    assert client.post(BASE + f"items/{queued.pk}/remove/").status_code == 404
    login(client, analyst)
    assert client.get(BASE).status_code == 403
    login(client, volunteer)
    assert client.get(BASE).status_code == 200
    assert client.get(BASE + "appeals/").status_code == 403
    assert client.get(BASE + "reports/").status_code == 403
    assert client.post(BASE + "rules/", {"text": RULES}).status_code == 403
    assert client.post(BASE + "rules/v1/enable/").status_code == 403
    assert RuleSet.objects.count() == 1
    queued.refresh_from_db()
    assert queued.state == "open"


def test_the_editor_shows_line_and_column_and_saves_nothing(
    client: Client, manager: User, workspace: Workspace
) -> None:
    login(client, manager)
    bad = "rules:\n  - id: Bad Id\n    when: {words: [x]}\n    actions: [queue]\n"
    response = client.post(BASE + "rules/", {"text": bad, "comment": ""})
    assert response.status_code == 200
    assert response.context["error"]["line"] == 2
    assert "Line 2, column" in response.content.decode()
    assert RuleSet.objects.count() == 0
    check = client.post(
        BASE + "rules/validate/", {"text": "rules:\n  - id: x\n    when: {regex: '(?<=a)b'}\n    actions: [queue]\n"}
    )
    assert check.status_code == 200
    assert "Line 3, column" in check.content.decode()
    assert "The rules compile: 2 rules." in client.post(BASE + "rules/validate/", {"text": RULES}).content.decode()


def test_save_backtest_and_enable_with_the_warning(
    client: Client, manager: User, workspace: Workspace, fake_source: Source
) -> None:
    login(client, manager)
    post(fake_source, "h1", "you idiot")
    post(fake_source, "h2", "hello all")
    response = client.post(BASE + "rules/", {"text": RULES, "comment": "first"})
    assert response["Location"] == BASE + "rules/v1/"
    backtest = client.post(BASE + "rules/v1/backtest/", {"days": "3650"})
    assert backtest.status_code == 302  # out of range: back to the version with a message
    response = client.post(BASE + "rules/v1/backtest/", {"days": "30"}, follow=True)
    page = response.content.decode()
    assert response.context["backtest"].acted == 0  # the messages are from 2026-03-02, before the last 30 days
    assert "Messages" in page
    ModerationSettings.objects.filter(workspace=workspace).delete()
    services.run_backtest(workspace=workspace, rule_set=RuleSet.objects.get(), days=3650, actor=manager)
    refused = client.post(BASE + "rules/v1/enable/", follow=True)
    assert "confirm to enable it" in refused.content.decode()
    assert ModerationSettings.objects.get(workspace=workspace).active_rule_set is None
    client.post(BASE + "rules/v1/enable/", {"confirm": "1"})
    assert ModerationSettings.objects.get(workspace=workspace).active_rule_set == RuleSet.objects.get()
    client.post(BASE + "rules/v1/modes/", {"mode-no-insults": "log_only", "mode-spam-links": "enabled"})
    assert RuleSet.objects.get(version=2).modes == {"no-insults": "log_only", "spam-links": "enabled"}
    client.post(BASE + "rules/off/")
    assert ModerationSettings.objects.get(workspace=workspace).active_rule_set is None
    assert list(AuditEntry.objects.filter(action__startswith="moderation.rules").values_list("action", flat=True)) == [
        "moderation.rules_disabled", "moderation.rules_saved", "moderation.rules_enabled", "moderation.rules_saved"
    ]  # fmt: skip


def test_the_queue_shows_the_explanation_and_one_key_actions(
    client: Client, volunteer: User, queued: ReviewItem
) -> None:
    page = login(client, volunteer).get(BASE).content.decode()
    assert "buy cheap watches here" in page
    assert "spam-links" in page
    assert 'data-key="r"' in page
    assert 'data-key="b"' not in page  # volunteers get no ban buttons
    assert client.post(BASE + f"items/{queued.pk}/ban/").status_code == 302
    queued.refresh_from_db()
    assert queued.state == "open"
    client.post(BASE + f"items/{queued.pk}/claim/")
    queued.refresh_from_db()
    assert queued.claimed_by == volunteer
    client.post(BASE + f"items/{queued.pk}/remove/")
    queued.refresh_from_db()
    assert (queued.state, queued.resolution) == ("resolved", "remove")
    assert Strike.objects.get().member_id == queued.member_id


def test_appeal_pages_and_the_member_panel(
    client: Client, owner: User, manager: User, workspace: Workspace, queued: ReviewItem
) -> None:
    decision = services.resolve_item(workspace=workspace, item=queued, verdict="ban", actor=manager)
    appeal = services.submit_appeal(decision=decision, statement="It was not spam")
    login(client, manager)
    page = client.get(BASE + f"appeals/{appeal.pk}/").content.decode()
    assert "someone else on the team must review this appeal" in page
    client.post(BASE + f"appeals/{appeal.pk}/", {"outcome": "overturn", "response": ""})
    appeal.refresh_from_db()
    assert appeal.state == "open"
    login(client, owner)
    client.post(BASE + f"appeals/{appeal.pk}/", {"outcome": "overturn", "response": "Sorry"})
    appeal.refresh_from_db()
    assert appeal.state == "overturned"
    panel = client.get(BASE + f"member/{queued.member_id}/panel")
    assert panel.status_code == 200
    assert "no strikes" in panel.content.decode()
    assert client.get(BASE + f"decisions/{decision.pk}/").status_code == 200
    client.post(BASE + f"member/{queued.member_id}/strikes/", {"reason": "Spamming links", "days": "30"})
    assert "1 active strike" in client.get(BASE + f"member/{queued.member_id}/panel").content.decode()
    assert client.get(BASE + "member/999999/panel").status_code == 404
    assert Appeal.objects.count() == 1
    assert Decision.objects.filter(verdict="reverse").count() == 1


def test_rule_errors_are_shown_in_the_readers_language_with_line_column_and_re2s_reason(
    client: Client, manager: User, workspace: Workspace
) -> None:
    login(client, manager)
    lookbehind = "rules:\n  - id: x\n    when: {regex: '(?<=a)b'}\n    actions: [queue]\n"
    check = client.post(BASE + "rules/validate/", {"text": lookbehind}, HTTP_ACCEPT_LANGUAGE="it")
    assert (check.context["result"]["line"], check.context["result"]["column"]) == (3, 19)
    assert check.context["result"]["message"] == (
        "RE2 rifiuta questa espressione regolare: il lookbehind ((?<=...), (?<!...)) non è supportato: RE2 confronta"
        " in tempo lineare (RE2: invalid perl operator: (?<=)"
    )  # RE2's own words stay as RE2 wrote them
    typo = "rules:\n  - id: x\n    wehn: {words: [x]}\n    actions: [queue]\n"
    response = client.post(BASE + "rules/", {"text": typo, "comment": ""}, HTTP_ACCEPT_LANGUAGE="es")
    assert response.context["error"]["message"].startswith(
        "clave desconocida `wehn` en una regla (¿quisiste decir `when`?); se esperaba una de: id, name,"
    )
    assert response.context["error"]["line"] == 3
    api = client.post(
        "/api/v1/moderation/rules/validate?workspace=acme",
        {"text": "rules:\n  - id: x\n    when: {words: [x]}\n    actions: [frobnicate]\n"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="ru",
        **bearer(manager),
    )
    assert api.json()["error"]["message"].startswith("неизвестное действие `frobnicate`; действия: ")
    assert RuleSet.objects.count() == 0
