from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from communa.audit.models import AuditEntry

if TYPE_CHECKING:
    from communa.accounts.models import Workspace


def audit_entries(*, workspace: Workspace) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(workspace=workspace).select_related("actor")
