"""Reads for accounts and tenancy. Workspace-owned rows are always filtered on the workspace."""

from __future__ import annotations

from django.db.models import QuerySet

from communa.accounts.models import ApiToken, Invitation, Membership, User, Workspace
from communa.accounts.roles import Role

_ROLE_RANK = {role: rank for rank, role in enumerate(Role.values)}


def members_of(*, workspace: Workspace) -> list[Membership]:
    """The team, most powerful roles first, then by username."""
    memberships = Membership.objects.filter(workspace=workspace).select_related("user")
    return sorted(memberships, key=lambda m: (_ROLE_RANK.get(m.role, len(_ROLE_RANK)), m.user.username.lower()))


def pending_invitations(*, workspace: Workspace) -> QuerySet[Invitation]:
    """Invitations nobody has used yet, expired ones included so they can be revoked."""
    return (
        Invitation.objects.filter(workspace=workspace, accepted_at=None)
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )


def invitation_by_token(token: str) -> Invitation | None:
    return Invitation.objects.select_related("workspace").filter(token=token).first()


def active_api_tokens(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at=None).order_by("-created_at", "-pk")


def memberships_of(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
