"""REST API for sources: list, read, create (settings validated by the connector's Config), change.

Secrets are write-only: they go into the encrypted column on create and are never part of a response.
Reading sources needs VIEW_STREAM (names and kinds label every message anyway); the settings, the
webhook URL and every write need MANAGE_SOURCES.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import ConfigDict

from communa.accounts.access import can
from communa.accounts.api import ERRORS, ErrorOut, WorkspaceParam, api_user, api_workspace, invalid
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm
from communa.connectors.base import Capability, Connector, ConnectorConfig
from communa.connectors.models import Source, SourceStatus
from communa.connectors.registry import CONNECTORS, UnknownConnector, connector_class
from communa.connectors.selectors import get_source, sources_of
from communa.connectors.services import create_source, load_config, set_paused, update_source

router = Router(tags=["sources"])

MIN_POLL_SECONDS = 60
MAX_POLL_SECONDS = 86_400


class SourceOut(Schema):
    id: int
    kind: str
    name: str
    status: SourceStatus
    paused: bool
    poll_interval: int = Field(description="Seconds between polls, for connectors that poll.")
    last_error: str
    last_error_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any] | None = Field(
        description="Non-secret settings. Null unless your role may manage sources.",
    )
    secret_fields: list[str] = Field(description="Settings that are write-only: accepted on create, never returned.")
    webhook_url: str | None = Field(
        description="Where the platform should push events (webhook connectors, and only if you manage sources).",
    )


class SourceIn(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(description="The connector, e.g. `feeds` or `webhook`.")
    name: str = Field(min_length=1, max_length=120)
    config: dict[str, Any] = Field(default_factory=dict, description="Validated by the connector's settings schema.")
    poll_interval: int | None = Field(
        default=None, ge=MIN_POLL_SECONDS, le=MAX_POLL_SECONDS, description="Seconds; the server default if omitted."
    )


class SourcePatch(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=120)
    poll_interval: int | None = Field(default=None, ge=MIN_POLL_SECONDS, le=MAX_POLL_SECONDS)
    paused: bool | None = None


def _connector(kind: str) -> type[Connector] | None:
    try:
        return connector_class(kind)
    except UnknownConnector:
        return None  # a source of a connector that was removed from this installation


def _webhook_url(source: Source, cls: type[Connector] | None) -> str | None:
    if cls is None or Capability.WEBHOOK not in cls.capabilities:
        return None
    return settings.BASE_URL + reverse("hooks:receive", kwargs={"token": source.webhook_token})


def source_out(source: Source, *, manage: bool) -> SourceOut:
    """The API's view of a source; `manage` decides whether settings and the webhook URL are included."""
    cls = _connector(source.kind)
    return SourceOut(
        id=source.pk,
        kind=source.kind,
        name=source.name,
        status=SourceStatus(source.status),
        paused=source.status == SourceStatus.PAUSED,
        poll_interval=source.poll_interval,
        last_error=source.last_error,
        last_error_at=source.last_error_at,
        last_success_at=source.last_success_at,
        next_poll_at=source.next_poll_at,
        created_at=source.created_at,
        updated_at=source.updated_at,
        config=dict(source.config) if manage else None,
        secret_fields=sorted(cls.Config.secret_field_names()) if cls else [],
        webhook_url=_webhook_url(source, cls) if manage else None,
    )


def _source_or_404(ws: Workspace, source_id: int) -> Source:
    try:
        return get_source(workspace=ws, source_id=source_id)
    except Source.DoesNotExist as exc:
        raise Http404 from exc


def _validated_config(cls: type[Connector], data: dict[str, Any]) -> ConnectorConfig:
    try:
        return cls.Config.model_validate(data)
    except pydantic.ValidationError as exc:
        # No `input` in the errors: the rejected value may be a secret.
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ValidationError(
            [{"type": e["type"], "loc": ["body", "config", *e["loc"]], "msg": e["msg"]} for e in errors]
        ) from exc


@router.get("", response={200: list[SourceOut], **ERRORS}, summary="List sources")
def list_sources(request: Any, workspace: WorkspaceParam = None) -> list[SourceOut]:
    """The workspace's sources, by name."""
    ws = api_workspace(request, workspace, Perm.VIEW_STREAM)
    manage = can(api_user(request), ws, Perm.MANAGE_SOURCES)
    return [source_out(source, manage=manage) for source in sources_of(workspace=ws)]


@router.get("/{source_id}", response={200: SourceOut, **ERRORS}, summary="Get a source")
def get_source_detail(request: Any, source_id: int, workspace: WorkspaceParam = None) -> SourceOut:
    ws = api_workspace(request, workspace, Perm.VIEW_STREAM)
    manage = can(api_user(request), ws, Perm.MANAGE_SOURCES)
    return source_out(_source_or_404(ws, source_id), manage=manage)


@router.post("", response={201: SourceOut, **ERRORS}, summary="Create a source")
def create(request: Any, body: SourceIn, workspace: WorkspaceParam = None) -> Status[SourceOut]:
    """Connect a new source. `config` is checked against the connector's settings; secrets are encrypted."""
    ws = api_workspace(request, workspace, Perm.MANAGE_SOURCES)
    cls = _connector(body.kind)
    if cls is None:
        raise invalid(["body", "kind"], _("Unknown kind; use one of: %(kinds)s.") % {"kinds": ", ".join(CONNECTORS)})
    source = create_source(
        workspace=ws,
        kind=body.kind,
        name=body.name,
        config=_validated_config(cls, body.config),
        actor=api_user(request),
        poll_interval=body.poll_interval or settings.COMMUNA_DEFAULT_POLL_SECONDS,
    )
    return Status(201, source_out(source, manage=True))


@router.patch("/{source_id}", response={200: SourceOut, 409: ErrorOut, **ERRORS}, summary="Change a source")
def change(request: Any, source_id: int, body: SourcePatch, workspace: WorkspaceParam = None) -> SourceOut:
    """Rename, change the poll interval, pause or resume. Fields you leave out stay as they are."""
    ws = api_workspace(request, workspace, Perm.MANAGE_SOURCES)
    source = _source_or_404(ws, source_id)
    actor = api_user(request)
    if body.name is not None or body.poll_interval is not None:
        try:
            config = load_config(source)
        except (pydantic.ValidationError, UnknownConnector) as exc:
            message = _("This source's stored settings are no longer valid: fix them on the sources page.")
            raise HttpError(409, message) from exc
        source = update_source(
            source=source, name=body.name or source.name, config=config, actor=actor, poll_interval=body.poll_interval
        )
    if body.paused is not None and body.paused != (source.status == SourceStatus.PAUSED):
        source = set_paused(source=source, paused=body.paused, actor=actor)
    return source_out(source, manage=True)
