"""The workspace's strike expiry: set on the rules page by whoever may manage rules, used by new strikes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from communa.moderation.live import evaluate_batch
from communa.moderation.models import ModerationSettings, Strike
from tests.conftest import login
from tests.moderation.conftest import enable, post

pytestmark = pytest.mark.django_db
URL = "/w/acme/moderation/rules/strikes/"


def test_the_manager_sets_the_expiry_and_new_strikes_follow_it(
    client: Client, workspace: Workspace, manager: User, fake_source: Source
) -> None:
    login(client, manager)
    assert 'name="strike_days" value="90"' in client.get("/w/acme/moderation/rules/").content.decode()
    response = client.post(URL, {"strike_days": "30"}, follow=True)
    assert "New strikes expire after 30 days." in response.content.decode()
    assert ModerationSettings.objects.get(workspace=workspace).strike_days == 30
    assert AuditEntry.objects.get(action="moderation.settings_changed").data == {"strike_days": [90, 30]}

    enable(workspace, manager)
    message = post(fake_source, "m1", "sei un idiota")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    expires = Strike.objects.get().expires_at
    assert timezone.now() + timedelta(days=29) < expires < timezone.now() + timedelta(days=31)


def test_bad_values_and_roles_change_nothing(
    client: Client, workspace: Workspace, manager: User, volunteer: User, outsider: User
) -> None:
    login(client, manager)
    for bad in ("0", "3651", "soon"):
        response = client.post(URL, {"strike_days": bad}, follow=True)
        assert "Choose between 1 and 3650 days." in response.content.decode()
    login(client, volunteer)
    assert client.post(URL, {"strike_days": "7"}).status_code == 403
    page = client.get("/w/acme/moderation/rules/").content.decode()
    assert 'data-testid="strike-settings"' not in page
    assert "Strikes expire after 90 days." in page
    login(client, outsider)
    assert client.post(URL, {"strike_days": "7"}).status_code == 404
    assert not ModerationSettings.objects.filter(workspace=workspace).exclude(strike_days=90).exists()
    assert not AuditEntry.objects.filter(action="moderation.settings_changed").exists()
