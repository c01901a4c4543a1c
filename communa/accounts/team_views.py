"""The team page of a workspace: members, roles, invitations, and the audit log.

Every change goes through accounts.services, which enforces the owner rules and records an audit entry.
A refused change re-renders the page with the reason (status 400) instead of redirecting, so the reason
is always visible next to the form that caused it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communa.accounts import services
from communa.accounts.access import access_membership, access_workspace
from communa.accounts.forms import InvitationForm, RoleForm
from communa.accounts.models import Invitation, Membership, User, Workspace
from communa.accounts.roles import Perm, Role, role_has
from communa.accounts.selectors import members_of, pending_invitations
from communa.audit.selectors import audit_entries
from communa.core.pagination import InvalidCursor, paginate_newest_first

AUDIT_PAGE_SIZE = 100


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # guaranteed by @login_required
    return user


def _team_context(ws: Workspace, *, is_owner: bool) -> dict[str, Any]:
    invitations = [
        (invitation, services.invitation_url(invitation)) for invitation in pending_invitations(workspace=ws)
    ]
    return {
        "workspace": ws,
        "members": [(m, RoleForm(initial={"role": m.role}, include_owner=is_owner)) for m in members_of(workspace=ws)],
        "invitations": invitations,
        "invitation_form": InvitationForm(initial={"role": Role.VOLUNTEER}, include_owner=is_owner),
        "is_owner": is_owner,
    }


def _render_team(request: HttpRequest, me: Membership, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = _team_context(me.workspace, is_owner=me.role == Role.OWNER)
    context.update(extra)
    return render(request, "team/index.html", context, status=status)


@login_required
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    """Members with their roles and the pending invitations."""
    return _render_team(request, access_membership(request.user, workspace, Perm.MANAGE_TEAM))


@login_required
@require_POST
def change_role(request: HttpRequest, workspace: str, membership_id: int) -> HttpResponse:
    me = access_membership(request.user, workspace, Perm.MANAGE_TEAM)
    ws = me.workspace
    # Another workspace's membership is a 404 whatever was posted: look it up before judging the form.
    get_object_or_404(Membership, workspace=ws, pk=membership_id)
    form = RoleForm(request.POST, include_owner=True)  # the service decides who may grant "owner"
    if not form.is_valid():
        return _render_team(request, me, status=400, error=_("Choose one of the roles in the list."))
    try:
        membership = services.change_role(
            workspace=ws, actor=_actor(request), membership_id=membership_id, role=form.cleaned_data["role"]
        )
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    except services.TeamError as exc:
        return _render_team(request, me, status=400, error=str(exc))
    messages.success(
        request,
        _("%(user)s is now %(role)s.")
        % {"user": membership.user.get_username(), "role": membership.get_role_display()},
    )
    if membership.user_id == me.user_id and not role_has(membership.role, Perm.MANAGE_TEAM):
        return redirect("home")  # they gave up managing the team: this page is no longer theirs to see
    return redirect("team:index", workspace=ws.slug)


@login_required
@require_POST
def remove_member(request: HttpRequest, workspace: str, membership_id: int) -> HttpResponse:
    me = access_membership(request.user, workspace, Perm.MANAGE_TEAM)
    ws = me.workspace
    actor = _actor(request)
    try:
        services.remove_member(workspace=ws, actor=actor, membership_id=membership_id)
    except Membership.DoesNotExist as exc:
        raise Http404 from exc
    except services.TeamError as exc:
        return _render_team(request, me, status=400, error=str(exc))
    if not Membership.objects.filter(workspace=ws, user=actor).exists():
        return redirect("home")  # they removed themselves: the team page is no longer theirs to see
    messages.success(request, _("The member was removed."))
    return redirect("team:index", workspace=ws.slug)


@login_required
@require_POST
def invite(request: HttpRequest, workspace: str) -> HttpResponse:
    me = access_membership(request.user, workspace, Perm.MANAGE_TEAM)
    ws = me.workspace
    form = InvitationForm(request.POST, include_owner=True)
    if not form.is_valid():
        return _render_team(request, me, status=400, invitation_form=form)
    try:
        invitation = services.create_invitation(
            workspace=ws, role=form.cleaned_data["role"], invited_by=_actor(request), email=form.cleaned_data["email"]
        )
    except services.TeamError as exc:
        return _render_team(request, me, status=400, error=str(exc))
    if invitation.email:
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    else:
        messages.success(request, _("Invitation created: copy the link below and send it."))
    return redirect("team:index", workspace=ws.slug)


@login_required
@require_POST
def revoke_invitation(request: HttpRequest, workspace: str, invitation_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_TEAM)
    try:
        services.revoke_invitation(workspace=ws, actor=_actor(request), invitation_id=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("The invitation link no longer works."))
    return redirect("team:index", workspace=ws.slug)


@login_required
def audit_log(request: HttpRequest, workspace: str) -> HttpResponse:
    """Who changed what in this workspace, newest first, a page at a time."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_AUDIT)
    try:
        page = paginate_newest_first(
            audit_entries(workspace=ws), cursor=request.GET.get("cursor"), limit=AUDIT_PAGE_SIZE, time_field="at"
        )
    except InvalidCursor:
        return HttpResponseBadRequest(_("This page link is broken: go back to the first page."))
    return render(request, "team/audit.html", {"workspace": ws, "page": page})
