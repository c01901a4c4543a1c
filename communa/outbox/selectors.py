"""Reads of the outbox, always scoped to a workspace (or to a source, which belongs to one)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, QuerySet
from django.http import Http404

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


# Tabs of the deliveries page: which states each shows.
VIEWS: dict[str, tuple[str, ...]] = {
    "attention": (OutboxItem.State.UNKNOWN, OutboxItem.State.FAILED),
    "waiting": (OutboxItem.State.PENDING, OutboxItem.State.CLAIMED),
    "sent": (OutboxItem.State.SENT,),
    "all": tuple(OutboxItem.State.values),
}


def deliveries(*, workspace: Workspace, view: str, limit: int = 100) -> list[OutboxItem]:
    states = VIEWS.get(view, VIEWS["attention"])
    return list(
        OutboxItem.objects.filter(workspace=workspace, state__in=states)
        .select_related("source", "created_by")
        .order_by("-updated_at", "-id")[:limit]
    )


def delivery_counts(*, workspace: Workspace) -> dict[str, int]:
    by_state = dict(
        OutboxItem.objects.filter(workspace=workspace).values_list("state").annotate(n=Count("id")).order_by()
    )
    return {view: sum(by_state.get(state, 0) for state in states) for view, states in VIEWS.items()}


def get_item(*, workspace: Workspace, item_id: int) -> OutboxItem:
    item = OutboxItem.objects.filter(workspace=workspace, pk=item_id).select_related("workspace").first()
    if item is None:
        raise Http404
    return item
