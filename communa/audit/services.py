from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from communa.audit.models import AuditEntry

if TYPE_CHECKING:
    from communa.accounts.models import User, Workspace


def record(
    *,
    workspace: Workspace | None,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry. `actor=None` means Communa itself (a rule, a task)."""
    return AuditEntry.objects.create(
        workspace=workspace,
        actor=actor,
        actor_label=actor.get_username() if actor else "communa",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:200] if target is not None else "",
        data=data or {},
    )
