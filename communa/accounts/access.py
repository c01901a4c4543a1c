"""Every user-visible fetch goes through these functions. They fail closed with Http404."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Perm, role_has


def membership_for(user: User | AnonymousUser, workspace_slug: str) -> Membership:
    """The user's membership of the workspace, or 404: an outsider learns nothing, not even existence."""
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("workspace").filter(user=user, workspace__slug=workspace_slug).first()
    )
    if membership is None:
        raise Http404
    return membership


def access_membership(user: User | AnonymousUser, workspace_slug: str, perm: Perm) -> Membership:
    """Like access_workspace, for callers that also need the user's role."""
    membership = membership_for(user, workspace_slug)
    if not role_has(membership.role, perm):
        raise PermissionDenied
    return membership


def access_workspace(user: User | AnonymousUser, workspace_slug: str, perm: Perm) -> Workspace:
    """The workspace if the user is a member whose role grants `perm`; 404 for outsiders, 403 otherwise."""
    return access_membership(user, workspace_slug, perm).workspace


def can(user: User | AnonymousUser, workspace: Workspace, perm: Perm) -> bool:
    if not user.is_authenticated:
        return False
    role = Membership.objects.filter(user=user, workspace=workspace).values_list("role", flat=True).first()
    return role is not None and role_has(role, perm)


def workspaces_of(user: User) -> list[Workspace]:
    return list(Workspace.objects.filter(memberships__user=user).order_by("name"))
