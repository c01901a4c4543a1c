"""Writes for accounts and tenancy. Views, the API and commands all call these.

Team changes check their own rules here (not only in views), so that every entry point enforces the same
ones: only a member with MANAGE_TEAM changes the team, only an owner grants or takes away the owner role,
and a workspace never loses its last owner.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from functools import cache, partial

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from communa.accounts.models import ApiToken, Invitation, Membership, User, Workspace
from communa.accounts.roles import Perm, Role, role_has
from communa.audit.services import record


class InvitationError(Exception):
    pass


class TeamError(Exception):
    """A team change the rules forbid. The message is meant for the person who tried it."""


class PreferenceError(ValueError):
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
    """Set a membership directly, without the team rules: for setup code (demo, commands, tests)."""
    membership, _created = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    record(workspace=workspace, actor=actor, action="membership.set", target=user, data={"role": role})
    return membership


# --- Team ---------------------------------------------------------------------------------------


def _actor_role(*, workspace: Workspace, actor: User) -> str:
    """The actor's role, or PermissionDenied when it does not allow managing the team."""
    role = Membership.objects.filter(workspace=workspace, user=actor).values_list("role", flat=True).first()
    if role is None or not role_has(role, Perm.MANAGE_TEAM):
        raise PermissionDenied
    return role


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise TeamError(_("Unknown role: %(role)s.") % {"role": role})


def _check_owner_change(*, workspace: Workspace, actor_role: str, membership: Membership, new_role: str | None) -> None:
    """Apply the owner rules to a role change (`new_role`) or a removal (`new_role=None`)."""
    if Role.OWNER in (membership.role, new_role) and actor_role != Role.OWNER:
        raise TeamError(_("Only an owner can grant or remove the owner role."))
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        # Lock every owner row so that two owners demoting each other at once cannot both succeed.
        owners = list(
            Membership.objects.select_for_update()
            .filter(workspace=workspace, role=Role.OWNER)
            .values_list("user_id", flat=True)
        )
        if owners == [membership.user_id]:
            raise TeamError(_("A workspace needs at least one owner: make someone else an owner first."))


def _locked_membership(*, workspace: Workspace, membership_id: int) -> Membership:
    """Raises Membership.DoesNotExist for another workspace's membership: callers turn that into a 404."""
    return Membership.objects.select_for_update().select_related("user").get(workspace=workspace, pk=membership_id)


@transaction.atomic
def change_role(*, workspace: Workspace, actor: User, membership_id: int, role: str) -> Membership:
    """Give a member another role, following the owner rules."""
    actor_role = _actor_role(workspace=workspace, actor=actor)
    _check_role(role)
    membership = _locked_membership(workspace=workspace, membership_id=membership_id)
    if membership.role == role:
        return membership
    _check_owner_change(workspace=workspace, actor_role=actor_role, membership=membership, new_role=role)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        workspace=workspace,
        actor=actor,
        action="membership.role_changed",
        target=membership.user,
        data={"from": previous, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, workspace: Workspace, actor: User, membership_id: int) -> None:
    """Take a person out of the workspace, following the owner rules."""
    actor_role = _actor_role(workspace=workspace, actor=actor)
    membership = _locked_membership(workspace=workspace, membership_id=membership_id)
    _check_owner_change(workspace=workspace, actor_role=actor_role, membership=membership, new_role=None)
    membership.delete()
    record(
        workspace=workspace,
        actor=actor,
        action="membership.removed",
        target=membership.user,
        data={"role": membership.role},
    )


@transaction.atomic
def create_invitation(*, workspace: Workspace, role: str, invited_by: User, email: str = "") -> Invitation:
    """A single-use link that adds whoever opens it to `workspace` with `role`; expires in a week."""
    actor_role = _actor_role(workspace=workspace, actor=invited_by)
    _check_role(role)
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise TeamError(_("Only an owner can grant or remove the owner role."))
    invitation = Invitation.objects.create(workspace=workspace, role=role, invited_by=invited_by, email=email)
    record(workspace=workspace, actor=invited_by, action="invitation.created", target=invitation, data={"role": role})
    if email:
        transaction.on_commit(partial(send_invitation_email, invitation))
    return invitation


def invitation_url(invitation: Invitation) -> str:
    """The absolute link to share; built from COMMUNA_BASE_URL, never from the request's Host header."""
    return settings.BASE_URL + reverse("accounts:invitation", kwargs={"token": invitation.token})


def send_invitation_email(invitation: Invitation) -> None:
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by,
        "url": invitation_url(invitation),
    }
    subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
    body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])


@transaction.atomic
def revoke_invitation(*, workspace: Workspace, actor: User, invitation_id: int) -> None:
    """Delete a pending invitation, so its link stops working. Raises Invitation.DoesNotExist otherwise."""
    _actor_role(workspace=workspace, actor=actor)
    invitation = Invitation.objects.select_for_update().get(workspace=workspace, pk=invitation_id, accepted_at=None)
    record(
        workspace=workspace,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        data={"role": invitation.role},
    )
    invitation.delete()


def _usable_invitation(token: str) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or not invitation.is_usable:
        raise InvitationError(_("This invitation link is invalid, expired or already used."))
    return invitation


@transaction.atomic
def accept_invitation(*, token: str, user: User) -> Membership:
    """Use the invitation for `user`. Someone who is already a member keeps the role they have."""
    invitation = _usable_invitation(token)
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    membership, _created = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    record(
        workspace=invitation.workspace,
        actor=user,
        action="invitation.accepted",
        target=invitation,
        data={"role": membership.role},
    )
    return membership


@transaction.atomic
def sign_up_with_invitation(*, token: str, username: str, email: str, password: str) -> Membership:
    """Create an account and accept the invitation in one step; nothing is created if the link is unusable."""
    _usable_invitation(token)  # checked (and locked) before the account exists
    user = User.objects.create_user(username=username, email=email, password=password)
    return accept_invitation(token=token, user=user)


# --- Personal settings --------------------------------------------------------------------------


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def set_preferences(*, user: User, language: str, time_zone: str) -> User:
    """Save the user's language and time zone; empty means the browser's language and the server's zone."""
    if language and language not in {code for code, _name in settings.LANGUAGES}:
        raise PreferenceError(f"unknown language {language!r}")
    if time_zone and time_zone not in known_time_zones():
        raise PreferenceError(f"unknown time zone {time_zone!r}")
    user.language = language
    user.time_zone = time_zone
    user.save(update_fields=["language", "time_zone"])
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Return the stored token row and the plaintext token, which is never shown again."""
    plaintext = "cmn_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=plaintext[:12], digest=_digest(plaintext))
    record(workspace=None, actor=user, action="api_token.created", target=token)
    return token, plaintext


def revoke_api_token(*, user: User, token_id: int) -> ApiToken:
    """Stop a token working at once. Raises ApiToken.DoesNotExist for someone else's or a revoked token."""
    token = ApiToken.objects.get(user=user, pk=token_id, revoked_at=None)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(workspace=None, actor=user, action="api_token.revoked", target=token)
    return token


def user_for_api_token(plaintext: str) -> User | None:
    """The active user a live token belongs to (and note its use), or None."""
    token = ApiToken.objects.select_related("user").filter(digest=_digest(plaintext), revoked_at=None).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
