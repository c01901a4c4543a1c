from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from communa.accounts.access import access_workspace
from communa.accounts.roles import Perm
from communa.stream.filters import MessageFilter
from communa.stream.selectors import message_page


@login_required
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_STREAM)
    request.session["workspace"] = ws.slug
    page = message_page(workspace=ws, flt=MessageFilter(), cursor=None)
    return render(request, "stream/index.html", {"workspace": ws, "page": page})
