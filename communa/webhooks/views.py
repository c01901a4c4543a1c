"""Webhook settings: endpoints, their signing secret, and the delivery log.

Every page needs Perm.MANAGE_SOURCES (owners and community managers): an endpoint is an integration, like a
source, and it sends community data out of Communa. Another workspace's ids are a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from communa.accounts.access import access_workspace
from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm
from communa.webhooks import selectors, services
from communa.webhooks.catalog import WEBHOOK_EVENTS
from communa.webhooks.forms import EndpointForm
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint
from communa.webhooks.tasks import deliver_webhook_task


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # guaranteed by @login_required
    return request.user


def _workspace(request: HttpRequest, slug: str) -> Workspace:
    return access_workspace(request.user, slug, Perm.MANAGE_SOURCES)


def _endpoint(ws: Workspace, endpoint_id: int) -> WebhookEndpoint:
    try:
        return selectors.get_endpoint(workspace=ws, endpoint_id=endpoint_id)
    except WebhookEndpoint.DoesNotExist as exc:
        raise Http404 from exc


def _send_soon(delivery_id: int) -> None:
    transaction.on_commit(lambda: deliver_webhook_task.enqueue(delivery_id))


@login_required
@require_GET
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoints = list(selectors.endpoints_of(workspace=ws))
    return render(request, "webhooks/index.html", {"workspace": ws, "endpoints": endpoints, "catalog": WEBHOOK_EVENTS})


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = _workspace(request, workspace)
    form = EndpointForm(request.POST or None, initial={"events": list(WEBHOOK_EVENTS)[:1], "active": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        endpoint = services.create_endpoint(
            workspace=ws, name=data["name"], url=data["url"], events=data["events"], actor=_user(request)
        )
        messages.success(request, _("Endpoint added. Copy its signing secret into the receiving system."))
        return redirect("webhooks:detail", ws.slug, endpoint.pk)
    return render(request, "webhooks/form.html", {"workspace": ws, "form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def detail(request: HttpRequest, workspace: str, endpoint_id: int) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoint = _endpoint(ws, endpoint_id)
    initial = {"name": endpoint.name, "url": endpoint.url, "events": endpoint.events, "active": endpoint.active}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.update_endpoint(
            endpoint=endpoint, name=data["name"], url=data["url"], events=data["events"], active=data["active"],
            actor=_user(request),
        )  # fmt: skip
        messages.success(request, _("Endpoint saved."))
        return redirect("webhooks:detail", ws.slug, endpoint.pk)
    context = {
        "workspace": ws,
        "endpoint": endpoint,
        "form": form,
        "secret": services.secret_of(endpoint),
        "deliveries": selectors.recent_deliveries(endpoint=endpoint),
    }
    return render(request, "webhooks/form.html", context)


@login_required
@require_POST
def test(request: HttpRequest, workspace: str, endpoint_id: int) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoint = _endpoint(ws, endpoint_id)
    delivery = services.send_test(endpoint=endpoint, actor=_user(request))
    _send_soon(delivery.pk)
    messages.success(request, _("Test event queued: its result appears in the log below."))
    return redirect("webhooks:detail", ws.slug, endpoint.pk)


@login_required
@require_POST
def rotate(request: HttpRequest, workspace: str, endpoint_id: int) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoint = _endpoint(ws, endpoint_id)
    services.rotate_secret(endpoint=endpoint, actor=_user(request))
    messages.success(
        request, _("New signing secret created. Update the receiving system: the old one no longer signs.")
    )
    return redirect("webhooks:detail", ws.slug, endpoint.pk)


@login_required
@require_POST
def delete(request: HttpRequest, workspace: str, endpoint_id: int) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoint = _endpoint(ws, endpoint_id)
    services.delete_endpoint(endpoint=endpoint, actor=_user(request))
    messages.success(request, _("Endpoint deleted."))
    return redirect("webhooks:index", ws.slug)


@login_required
@require_POST
def retry(request: HttpRequest, workspace: str, endpoint_id: int, delivery_id: int) -> HttpResponse:
    ws = _workspace(request, workspace)
    endpoint = _endpoint(ws, endpoint_id)
    try:
        delivery = selectors.get_delivery(workspace=ws, endpoint=endpoint, delivery_id=delivery_id)
    except WebhookDelivery.DoesNotExist as exc:
        raise Http404 from exc
    services.redeliver(delivery=delivery, actor=_user(request))
    _send_soon(delivery.pk)
    messages.success(request, _("Delivery queued again."))
    return redirect("webhooks:detail", ws.slug, endpoint.pk)
