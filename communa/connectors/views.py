"""Sources settings: list, add (choose a connector, then its form), edit, pause and resume.

Every page needs MANAGE_SOURCES; a source of another workspace is a 404. Writes go through services.py,
which also records the audit entry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import ValidationError

from communa.accounts.access import access_workspace
from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm
from communa.connectors.base import Capability, Connector, ConnectorConfig
from communa.connectors.forms import SourceForm, stored_initial
from communa.connectors.models import Source
from communa.connectors.registry import UnknownConnector, connector_class, connector_classes
from communa.connectors.selectors import get_source, sources_of
from communa.connectors.services import create_source, load_config, set_paused, update_source

CAPABILITY_LABELS: dict[Capability, str | Promise] = {
    Capability.POLL: gettext_lazy("Polls"),
    Capability.STREAM: gettext_lazy("Live stream"),
    Capability.WEBHOOK: gettext_lazy("Webhook"),
    Capability.REPLY: gettext_lazy("Can reply"),
    Capability.PUBLISH: gettext_lazy("Can publish"),
    Capability.MODERATE: gettext_lazy("Can moderate"),
}


READING_CAPABILITIES = frozenset({Capability.POLL, Capability.STREAM, Capability.WEBHOOK})


@dataclasses.dataclass(frozen=True)
class ConnectorInfo:
    """What the pages show about a connector class; `cls` is None when its kind is no longer installed."""

    kind: str
    cls: type[Connector] | None

    # Templates call callables, so they must not reach `cls` (a class): they use these properties.
    @property
    def available(self) -> bool:
        return self.cls is not None

    @property
    def can_pause(self) -> bool:
        """Pausing means something only for sources Communa reads on its own (not one-off imports)."""
        return self.cls is not None and bool(self.cls.capabilities & READING_CAPABILITIES)

    @property
    def label(self) -> str | Promise:
        return self.cls.label if self.cls else self.kind

    @property
    def description(self) -> str | Promise:
        return self.cls.description if self.cls else ""

    @property
    def capabilities(self) -> list[str | Promise]:
        """Capability labels in a stable order (the enum's)."""
        owned = self.cls.capabilities if self.cls else frozenset()
        return [label for capability, label in CAPABILITY_LABELS.items() if capability in owned]


def _info(kind: str) -> ConnectorInfo:
    try:
        return ConnectorInfo(kind=kind, cls=connector_class(kind))
    except UnknownConnector:
        return ConnectorInfo(kind=kind, cls=None)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # guaranteed by @login_required
    return user


def _workspace(request: HttpRequest, slug: str) -> Workspace:
    return access_workspace(request.user, slug, Perm.MANAGE_SOURCES)


def _source(ws: Workspace, source_id: int) -> Source:
    try:
        return get_source(workspace=ws, source_id=source_id)
    except Source.DoesNotExist as exc:
        raise Http404 from exc


def _connector(kind: str) -> type[Connector]:
    try:
        return connector_class(kind)
    except UnknownConnector as exc:
        raise Http404 from exc


@login_required
@require_GET
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    """Every source of the workspace with its health, capabilities and message count."""
    ws = _workspace(request, workspace)
    sources = sources_of(workspace=ws)
    rows = [(source, _info(source.kind)) for source in sources]
    return render(request, "connectors/index.html", {"workspace": ws, "rows": rows})


@login_required
@require_GET
def choose(request: HttpRequest, workspace: str) -> HttpResponse:
    """Step one of adding a source: pick the kind of place to connect."""
    ws = _workspace(request, workspace)
    connectors = [ConnectorInfo(kind=cls.kind, cls=cls) for cls in connector_classes()]
    return render(request, "connectors/choose.html", {"workspace": ws, "connectors": connectors})


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest, workspace: str, kind: str) -> HttpResponse:
    """Step two: the connector's settings. A valid form creates the source and opens its page."""
    ws = _workspace(request, workspace)
    cls = _connector(kind)
    data = request.POST if request.method == "POST" else None
    form = SourceForm(data, connector=cls, suggest_secrets=Capability.WEBHOOK in cls.capabilities)
    if form.is_valid() and form.config is not None:
        source = create_source(
            workspace=ws,
            kind=kind,
            name=form.cleaned_data["name"],
            config=form.config,
            actor=_user(request),
            poll_interval=form.cleaned_data.get("poll_interval", settings.COMMUNA_DEFAULT_POLL_SECONDS),
        )
        messages.success(request, _("The source “%(name)s” is connected.") % {"name": source.name})
        return redirect("sources:edit", workspace=ws.slug, source_id=source.pk)
    context = {"workspace": ws, "connector": _info(kind), "form": form, "creating": True}
    return render(request, "connectors/form.html", context, status=400 if form.is_bound else 200)


def _stored_config(source: Source) -> ConnectorConfig | None:
    """The validated stored settings, or None when they no longer fit the connector (after an upgrade)."""
    try:
        return load_config(source)
    except ValidationError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, workspace: str, source_id: int) -> HttpResponse:
    """A source's page: its status, its webhook address if it has one, and its settings form."""
    ws = _workspace(request, workspace)
    source = _source(ws, source_id)
    cls = _connector(source.kind)
    current = _stored_config(source)
    initial: dict[str, Any] = {"name": source.name, "poll_interval": source.poll_interval}
    if current is None:
        initial.update(stored_initial(cls, source.config))
    form = SourceForm(
        request.POST if request.method == "POST" else None, connector=cls, current=current, initial=initial
    )
    if form.is_valid() and form.config is not None:
        update_source(
            source=source,
            name=form.cleaned_data["name"],
            config=form.config,
            actor=_user(request),
            poll_interval=form.cleaned_data.get("poll_interval"),
        )
        messages.success(request, _("The changes to “%(name)s” are saved.") % {"name": source.name})
        return redirect("sources:edit", workspace=ws.slug, source_id=source.pk)
    context = {
        "workspace": ws,
        "source": source,
        "connector": _info(source.kind),
        "form": form,
        "stale_config": current is None,
        "webhook_url": _webhook_url(source, cls),
    }
    return render(request, "connectors/form.html", context, status=400 if form.is_bound else 200)


def _webhook_url(source: Source, cls: type[Connector]) -> str:
    if Capability.WEBHOOK not in cls.capabilities:
        return ""
    return settings.BASE_URL + reverse("hooks:receive", kwargs={"token": source.webhook_token})


@login_required
@require_POST
def pause(request: HttpRequest, workspace: str, source_id: int) -> HttpResponse:
    """Stop polling or accepting pushes for a source until it is resumed."""
    return _set_paused(request, workspace, source_id, paused=True)


@login_required
@require_POST
def resume(request: HttpRequest, workspace: str, source_id: int) -> HttpResponse:
    """Start a paused source again, checking it right away."""
    return _set_paused(request, workspace, source_id, paused=False)


def _set_paused(request: HttpRequest, workspace: str, source_id: int, *, paused: bool) -> HttpResponse:
    ws = _workspace(request, workspace)
    source = set_paused(source=_source(ws, source_id), paused=paused, actor=_user(request))
    notice = _("“%(name)s” is paused.") if paused else _("“%(name)s” is active again.")
    messages.success(request, notice % {"name": source.name})
    return redirect(_back(request, default=reverse("sources:index", kwargs={"workspace": ws.slug})))


def _back(request: HttpRequest, *, default: str) -> str:
    """Where a button asked to return to, if it is a page of this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
