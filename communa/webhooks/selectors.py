"""Reads for the webhook pages; every function takes the workspace (fail closed)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from communa.accounts.models import Workspace
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint

RECENT_DELIVERIES = 50


def endpoints_of(*, workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    failing = Q(deliveries__state=WebhookDelivery.State.FAILED)
    waiting = Q(deliveries__state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.SENDING])
    return (
        WebhookEndpoint.objects.filter(workspace=workspace)
        .annotate(failed_count=Count("deliveries", filter=failing), waiting_count=Count("deliveries", filter=waiting))
        .order_by("name", "pk")
    )


def get_endpoint(*, workspace: Workspace, endpoint_id: int) -> WebhookEndpoint:
    """Raises WebhookEndpoint.DoesNotExist for another workspace's id."""
    return WebhookEndpoint.objects.get(workspace=workspace, pk=endpoint_id)


def recent_deliveries(*, endpoint: WebhookEndpoint, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    rows = WebhookDelivery.objects.filter(workspace_id=endpoint.workspace_id, endpoint=endpoint)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def get_delivery(*, workspace: Workspace, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("endpoint__workspace").get(
        workspace=workspace, endpoint=endpoint, pk=delivery_id
    )
