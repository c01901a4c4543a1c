"""The team page of a workspace: members, roles and invitations."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from communa.accounts.access import access_workspace
from communa.accounts.models import Membership
from communa.accounts.roles import Perm


@login_required
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    """Members with their roles and the pending invitations."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_TEAM)
    members = Membership.objects.filter(workspace=ws).select_related("user").order_by("user__username")
    return render(request, "team/index.html", {"workspace": ws, "members": members})
