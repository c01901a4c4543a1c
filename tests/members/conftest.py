"""Helpers for member tests: people arrive through the real ingest path, from import sources per platform."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from communa.accounts.models import Workspace
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.connectors.registry import connector_class
from communa.connectors.services import create_source
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from tests.conftest import T0


def source_for(workspace: Workspace, platform: str) -> Source:
    """One import source per platform (author ids are unique per platform)."""
    existing = Source.objects.filter(workspace=workspace, name=platform).first()
    if existing is not None:
        return existing
    config = connector_class("import").Config.model_validate({"platform": platform})
    return create_source(workspace=workspace, kind="import", name=platform, config=config, actor=None)


def say(
    workspace: Workspace,
    platform: str,
    author_id: str,
    *,
    name: str = "",
    handle: str = "",
    email: str = "",
    text: str = "hello",
    minutes: int = 0,
    language: str = "",
    msg_id: str | None = None,
) -> Identity:
    """Ingest one message by this author on this platform; return the author's identity."""
    row: dict[str, Any] = {
        "id": msg_id or f"{platform}-{author_id}-{minutes}",
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "author_id": author_id,
        "author_name": name,
        "author_handle": handle,
        "author_email": email,
        "text": text,
        "language": language,
    }
    ingest_events(source=source_for(workspace, platform), events=[RawItem(external_id=row["id"], payload=row)])
    return Identity.objects.get(workspace=workspace, platform=platform, external_id=author_id)
