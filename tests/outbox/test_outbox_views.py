"""The deliveries page: managers see writes on their way and settle the ones Communa cannot settle itself."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.base import ReplyTarget
from communa.connectors.models import Source
from communa.core.http import PermanentError, TransientError
from communa.outbox import services
from communa.outbox.models import OutboxItem
from tests.conftest import FakeConnector, login

pytestmark = pytest.mark.django_db


def reply(workspace: Workspace, source: Source, key: str, text: str = "Hi <b>there</b>") -> OutboxItem:
    return services.enqueue_reply(
        workspace=workspace,
        source=source,
        target=ReplyTarget(channel="#c", message_external_id="m1"),
        text=text,
        idempotency_key=key,
    )


def test_the_page_shows_what_needs_a_person(
    client: Client, manager: User, workspace: Workspace, fake_source: Source
) -> None:
    FakeConnector.fail_next = [TransientError("timed out"), PermanentError("M_FORBIDDEN: not in the room")]
    unknown, failed, waiting = (
        reply(workspace, fake_source, "a"),
        reply(workspace, fake_source, "b"),
        reply(workspace, fake_source, "c"),
    )
    services.deliver(item_id=unknown.pk)
    services.deliver(item_id=failed.pk)
    page = login(client, manager).get(f"/w/{workspace.slug}/deliveries/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="delivery-{unknown.pk}"' in html
    assert f'id="delivery-{failed.pk}"' in html
    assert f'id="delivery-{waiting.pk}"' not in html
    assert "M_FORBIDDEN: not in the room" in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html  # typed text is escaped
    waiting_page = client.get(f"/w/{workspace.slug}/deliveries/?view=waiting").content.decode()
    assert f'id="delivery-{waiting.pk}"' in waiting_page


def test_a_person_settles_an_unknown_write_and_it_is_audited(
    client: Client, manager: User, workspace: Workspace, fake_source: Source
) -> None:
    FakeConnector.fail_next = [TransientError("timed out")]
    item = reply(workspace, fake_source, "a")
    services.deliver(item_id=item.pk)
    login(client, manager)
    response = client.post(f"/w/{workspace.slug}/deliveries/{item.pk}/mark-sent/", {"view": "attention"})
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/deliveries/?view=attention"
    item.refresh_from_db()
    assert item.state == "sent"
    entry = AuditEntry.objects.get(action="outbox.mark_sent")
    assert (entry.actor, entry.workspace) == (manager, workspace)
    again = client.post(f"/w/{workspace.slug}/deliveries/{item.pk}/retry/", follow=True)
    assert "Nothing to do" in again.content.decode()
    assert FakeConnector.writes == []


def test_send_again_and_cancel(client: Client, manager: User, workspace: Workspace, fake_source: Source) -> None:
    FakeConnector.fail_next = [TransientError("timed out")]
    unknown, waiting = reply(workspace, fake_source, "a"), reply(workspace, fake_source, "b")
    services.deliver(item_id=unknown.pk)
    login(client, manager)
    client.post(f"/w/{workspace.slug}/deliveries/{unknown.pk}/retry/")
    client.post(f"/w/{workspace.slug}/deliveries/{waiting.pk}/cancel/")
    unknown.refresh_from_db()
    waiting.refresh_from_db()
    assert (unknown.state, waiting.state) == ("pending", "cancelled")
    assert services.deliver(item_id=unknown.pk) == "sent"


def test_roles_and_other_workspaces(
    client: Client,
    volunteer: User,
    outsider: User,
    manager: User,
    workspace: Workspace,
    other_workspace: Workspace,
    fake_source: Source,
) -> None:
    FakeConnector.fail_next = [TransientError("timed out")]
    item = reply(workspace, fake_source, "a")
    services.deliver(item_id=item.pk)
    assert login(client, volunteer).get(f"/w/{workspace.slug}/deliveries/").status_code == 403
    assert client.post(f"/w/{workspace.slug}/deliveries/{item.pk}/retry/").status_code == 403
    login(client, outsider)
    assert client.get(f"/w/{workspace.slug}/deliveries/").status_code == 404
    # The outsider's own workspace does not reach the item either.
    assert client.post(f"/w/{other_workspace.slug}/deliveries/{item.pk}/retry/").status_code == 404
    assert client.get(f"/w/{other_workspace.slug}/deliveries/").status_code == 200
    item.refresh_from_db()
    assert item.state == "unknown"
    assert not AuditEntry.objects.filter(action__startswith="outbox.").exists()
    assert login(client, manager).post(f"/w/{workspace.slug}/deliveries/{item.pk}/retry/").status_code == 302
    # Only POST changes anything.
    assert client.get(f"/w/{workspace.slug}/deliveries/{item.pk}/cancel/").status_code == 405
