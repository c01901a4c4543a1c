"""Webhook settings pages: owners and managers only; another workspace's endpoints are a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.webhooks import services
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import login
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.django_db


def test_a_manager_adds_an_endpoint_and_sees_its_secret(client: Client, manager: User, workspace: Workspace) -> None:
    login(client, manager)
    assert client.get(reverse("webhooks:index", args=["acme"])).status_code == 200
    response = client.post(
        reverse("webhooks:create", args=["acme"]),
        {"name": "Helpdesk", "url": "https://help.example/in", "events": ["conversation.created", "sla.breached"]},
    )
    made = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("webhooks:detail", args=["acme", made.pk])
    assert (made.workspace_id, made.name, made.url, made.active) == (
        workspace.pk,
        "Helpdesk",
        "https://help.example/in",
        True,
    )
    assert made.events == ["conversation.created", "sla.breached"]
    assert made.created_by == manager
    page = client.get(response["Location"])
    assert services.secret_of(made) in page.content.decode()
    assert AuditEntry.objects.filter(action="webhook.created", actor=manager).count() == 1
    listing = client.get(reverse("webhooks:index", args=["acme"])).content.decode()
    assert "Helpdesk" in listing
    assert "https://help.example/in" in listing


def test_bad_input_is_explained(client: Client, manager: User, workspace: Workspace) -> None:
    login(client, manager)
    response = client.post(
        reverse("webhooks:create", args=["acme"]), {"name": "x", "url": "ftp://files.example/", "events": []}
    )
    assert response.status_code == 200
    assert "Choose at least one event." in response.content.decode()
    assert "Enter a valid URL." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_edit_rotate_test_retry_delete(client: Client, owner: User, workspace: Workspace, receiver: Receiver) -> None:
    login(client, owner)
    made = services.create_endpoint(
        workspace=workspace, name="Chat", url=receiver.url, events=["conversation.created"], actor=owner
    )
    detail = reverse("webhooks:detail", args=["acme", made.pk])
    client.post(detail, {"name": "Team chat", "url": receiver.url, "events": ["conversation.resolved"]})
    made.refresh_from_db()
    assert (made.name, made.events, made.active) == ("Team chat", ["conversation.resolved"], False)

    old = services.secret_of(made)
    client.post(reverse("webhooks:rotate", args=["acme", made.pk]))
    made.refresh_from_db()
    assert services.secret_of(made) != old

    client.post(reverse("webhooks:test", args=["acme", made.pk]))
    ping = WebhookDelivery.objects.get()
    assert (ping.event_name, ping.state) == ("webhook.ping", "pending")
    services.deliver(delivery_id=ping.pk)  # what the task queued on commit does
    assert len(receiver.requests) == 1  # a ping goes out even to a paused endpoint
    page = client.get(detail).content.decode()
    assert "webhook.ping" in page
    assert "Delivered" in page

    WebhookDelivery.objects.update(state="failed")
    client.post(reverse("webhooks:retry", args=["acme", made.pk, ping.pk]))
    assert WebhookDelivery.objects.get().state == "pending"

    response = client.post(reverse("webhooks:delete", args=["acme", made.pk]))
    assert response["Location"] == reverse("webhooks:index", args=["acme"])
    assert not WebhookEndpoint.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("persona", ["volunteer", "analyst"])
def test_other_roles_are_refused(
    client: Client, persona: str, request: pytest.FixtureRequest, workspace: Workspace
) -> None:
    made = services.create_endpoint(workspace=workspace, name="Chat", url="https://x.example", events=[], actor=None)
    login(client, request.getfixturevalue(persona))
    assert client.get(reverse("webhooks:index", args=["acme"])).status_code == 403
    assert client.get(reverse("webhooks:detail", args=["acme", made.pk])).status_code == 403
    response = client.post(
        reverse("webhooks:create", args=["acme"]), {"name": "n", "url": "https://y.example", "events": ["sla.breached"]}
    )
    assert response.status_code == 403
    assert client.post(reverse("webhooks:delete", args=["acme", made.pk])).status_code == 403
    assert list(WebhookEndpoint.objects.values_list("name", flat=True)) == ["Chat"]


def test_another_workspaces_endpoint_is_not_found(
    client: Client, outsider: User, workspace: Workspace, other_workspace: Workspace
) -> None:
    made = services.create_endpoint(
        workspace=workspace, name="Chat", url="https://x.example", events=["sla.breached"], actor=None
    )
    secret = services.secret_of(made)
    login(client, outsider)
    for name in ("detail", "test", "rotate", "delete"):
        assert client.post(reverse(f"webhooks:{name}", args=["rival", made.pk])).status_code == 404
        assert client.post(reverse(f"webhooks:{name}", args=["acme", made.pk])).status_code == 404
    assert client.get(reverse("webhooks:detail", args=["rival", made.pk])).status_code == 404
    made.refresh_from_db()
    assert (made.name, services.secret_of(made)) == ("Chat", secret)
    assert not WebhookDelivery.objects.exists()
