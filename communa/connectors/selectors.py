from __future__ import annotations

from django.db.models import QuerySet

from communa.accounts.models import Workspace
from communa.connectors.models import Source


def sources_of(*, workspace: Workspace) -> QuerySet[Source]:
    return Source.objects.filter(workspace=workspace).order_by("name")


def get_source(*, workspace: Workspace, source_id: int) -> Source:
    """Raises Source.DoesNotExist for another workspace's source: callers turn that into a 404."""
    return Source.objects.get(workspace=workspace, pk=source_id)
