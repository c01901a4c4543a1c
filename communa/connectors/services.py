"""Writes for sources: create, change, pause, and the status a poll leaves behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import SecretStr

from communa.accounts.models import User, Workspace
from communa.audit.services import record
from communa.connectors.base import Connector, ConnectorConfig
from communa.connectors.models import Source, SourceStatus
from communa.connectors.registry import connector_class
from communa.core import crypto

MAX_BACKOFF_SECONDS = 3600


def split_config(config: ConnectorConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate plain settings (stored as JSON) from secrets (stored encrypted)."""
    secret_names = config.secret_field_names()
    data = config.model_dump(mode="json")
    plain = {k: v for k, v in data.items() if k not in secret_names}
    hidden = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name in secret_names
        if (value := getattr(config, name)) is not None
    }
    return plain, hidden


def load_config(source: Source) -> ConnectorConfig:
    cls = connector_class(source.kind)
    return cls.Config.model_validate({**source.config, **crypto.decrypt_json(source.secrets)})


def build_connector(source: Source) -> Connector:
    return connector_class(source.kind)(load_config(source), source_key=source.webhook_token)


def _store_config(source: Source, config: ConnectorConfig) -> None:
    plain, hidden = split_config(config)
    source.config = plain
    source.secrets = crypto.encrypt_json(hidden) if hidden else ""


@transaction.atomic
def create_source(
    *, workspace: Workspace, kind: str, name: str, config: ConnectorConfig, actor: User | None, poll_interval: int = 300
) -> Source:
    source = Source(workspace=workspace, kind=kind, name=name, poll_interval=poll_interval, next_poll_at=timezone.now())
    _store_config(source, config)
    source.save()
    record(workspace=workspace, actor=actor, action="source.created", target=source, data={"kind": kind})
    return source


@transaction.atomic
def update_source(
    *, source: Source, name: str, config: ConnectorConfig, actor: User | None, poll_interval: int | None = None
) -> Source:
    source.name = name
    if poll_interval is not None:
        source.poll_interval = poll_interval
    _store_config(source, config)
    # A person fixed the settings: try again now, and forget the error that disabled it.
    if source.status in {SourceStatus.DISABLED, SourceStatus.RETRYING}:
        source.status = SourceStatus.ACTIVE
        source.failure_count = 0
    source.next_poll_at = timezone.now()
    source.save()
    record(workspace=source.workspace, actor=actor, action="source.updated", target=source)
    return source


def set_paused(*, source: Source, paused: bool, actor: User | None) -> Source:
    source.status = SourceStatus.PAUSED if paused else SourceStatus.ACTIVE
    source.next_poll_at = None if paused else timezone.now()
    source.failure_count = 0
    source.save(update_fields=["status", "next_poll_at", "failure_count", "updated_at"])
    record(
        workspace=source.workspace, actor=actor, action="source.paused" if paused else "source.resumed", target=source
    )
    return source


def mark_success(*, source_id: int) -> None:
    Source.objects.filter(pk=source_id).exclude(status=SourceStatus.PAUSED).update(
        status=SourceStatus.ACTIVE, last_success_at=timezone.now(), failure_count=0, last_error=""
    )


def mark_transient_failure(*, source_id: int, reason: str, retry_after: float | None = None) -> None:
    """Back off exponentially (capped at an hour) and show "retrying" with the reason."""
    source = Source.objects.filter(pk=source_id).only("failure_count", "poll_interval", "status").first()
    if source is None or source.status == SourceStatus.PAUSED:
        return
    failures = source.failure_count + 1
    delay = retry_after if retry_after is not None else min(MAX_BACKOFF_SECONDS, 30 * 2 ** min(failures, 10))
    now = timezone.now()
    Source.objects.filter(pk=source_id).update(
        status=SourceStatus.RETRYING,
        failure_count=failures,
        last_error=reason[:2000],
        last_error_at=now,
        next_poll_at=now + timedelta(seconds=delay),
    )


def mark_permanent_failure(*, source_id: int, reason: str) -> None:
    """Stop polling a source that will not work until a person changes it."""
    now = timezone.now()
    Source.objects.filter(pk=source_id).update(
        status=SourceStatus.DISABLED, last_error=reason[:2000], last_error_at=now, next_poll_at=None
    )
