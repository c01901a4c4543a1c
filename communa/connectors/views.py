from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from communa.accounts.access import access_workspace
from communa.accounts.roles import Perm
from communa.connectors.selectors import sources_of


@login_required
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_SOURCES)
    return render(request, "connectors/index.html", {"workspace": ws, "sources": sources_of(workspace=ws)})
