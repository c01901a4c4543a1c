"""Writes for accounts and tenancy. Views, the API and commands all call these."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from communa.accounts.models import ApiToken, Invitation, Membership, User, Workspace
from communa.accounts.roles import Role
from communa.audit.services import record


class InvitationError(Exception):
    pass


def unique_workspace_slug(name: str) -> str:
    base = slugify(name)[:50] or "community"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_workspace(*, name: str, owner: User, slug: str = "", time_zone: str = "UTC") -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=slug or unique_workspace_slug(name), time_zone=time_zone)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    record(workspace=workspace, actor=owner, action="workspace.created", target=workspace)
    return workspace


def add_member(*, workspace: Workspace, user: User, role: str, actor: User | None = None) -> Membership:
    membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    record(workspace=workspace, actor=actor, action="membership.set", target=user, data={"role": role})
    return membership


def create_invitation(*, workspace: Workspace, role: str, invited_by: User, email: str = "") -> Invitation:
    invitation = Invitation.objects.create(workspace=workspace, role=role, invited_by=invited_by, email=email)
    record(workspace=workspace, actor=invited_by, action="invitation.created", target=invitation, data={"role": role})
    return invitation


@transaction.atomic
def accept_invitation(*, token: str, user: User) -> Membership:
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or not invitation.is_usable:
        raise InvitationError("This invitation link is invalid, expired or already used.")
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    record(workspace=invitation.workspace, actor=user, action="invitation.accepted", target=invitation)
    return membership


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Return the stored token row and the plaintext token, which is never shown again."""
    plaintext = "cmn_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=plaintext[:12], digest=_digest(plaintext))
    return token, plaintext


def user_for_api_token(plaintext: str) -> User | None:
    token = ApiToken.objects.select_related("user").filter(digest=_digest(plaintext), revoked_at=None).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
