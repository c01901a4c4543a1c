from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from communa.accounts.access import workspaces_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to their last workspace, or the first one; explain when they have none."""
    workspaces = workspaces_of(request.user)  # type: ignore[arg-type]
    last = request.session.get("workspace")
    chosen = next((w for w in workspaces if w.slug == last), workspaces[0] if workspaces else None)
    if chosen is None:
        return render(request, "server/no_workspace.html", status=200)
    return redirect("stream:index", workspace=chosen.slug)


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
