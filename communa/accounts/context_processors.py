from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from communa.accounts.models import Membership
from communa.accounts.roles import Perm, role_has


def workspaces(request: HttpRequest) -> dict[str, Any]:
    """The switcher's list and the current workspace (from the URL) for the navigation bar."""
    if not request.user.is_authenticated:
        return {}
    memberships = list(Membership.objects.filter(user=request.user).select_related("workspace"))
    slug = request.resolver_match.kwargs.get("workspace") if request.resolver_match else None
    current = next((m for m in memberships if m.workspace.slug == slug), None)
    return {
        "my_workspaces": [m.workspace for m in memberships],
        "current_workspace": current.workspace if current else None,
        "current_role": current.role if current else None,
        # What the navigation may offer: `{% if "manage_sources" in current_perms %}`.
        "current_perms": frozenset(p.value for p in Perm if current and role_has(current.role, p)),
    }
