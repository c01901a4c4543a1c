"""Reads of the outbox, always scoped to a workspace (or to a source, which belongs to one)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from communa.accounts.models import Workspace
from communa.outbox.models import OutboxItem


def items_by_origin(*, workspace: Workspace, origins: Sequence[str]) -> dict[str, OutboxItem]:
    """The newest item of each origin ("inbox.reply:42" → its item), for showing delivery state."""
    found: dict[str, OutboxItem] = {}
    for item in OutboxItem.objects.filter(workspace=workspace, origin__in=list(origins)).order_by("created_at", "id"):
        found[item.origin] = item
    return found


def sent_item_for(*, source_id: int, external_id: str) -> OutboxItem | None:
    """The item that created this platform message, if Communa sent it (a reply coming back through ingest)."""
    if not external_id:
        return None
    return (
        OutboxItem.objects.filter(source_id=source_id, result_external_id=external_id, state=OutboxItem.State.SENT)
        .order_by("id")
        .first()
    )


def items_needing_a_person(*, workspace: Workspace) -> QuerySet[OutboxItem]:
    """Writes whose outcome Communa cannot settle itself (or that the platform refused)."""
    return OutboxItem.objects.filter(
        workspace=workspace, state__in=[OutboxItem.State.UNKNOWN, OutboxItem.State.FAILED]
    ).order_by("-updated_at")
