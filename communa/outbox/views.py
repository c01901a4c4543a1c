"""The deliveries page: what Communa has sent or is sending to platforms, and what needs a person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from communa.accounts.access import access_workspace
from communa.accounts.models import User
from communa.accounts.roles import Perm
from communa.outbox import selectors
from communa.outbox.services import decide

DONE = {
    "retry": gettext_lazy("It will be sent again."),
    "mark_sent": gettext_lazy("Marked as sent."),
    "cancel": gettext_lazy("Cancelled: it will not be sent."),
}


@login_required
@require_GET
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_SOURCES)
    view = request.GET.get("view", "attention")
    if view not in selectors.VIEWS:
        view = "attention"
    context = {
        "workspace": ws,
        "view": view,
        "items": selectors.deliveries(workspace=ws, view=view),
        "counts": selectors.delivery_counts(workspace=ws),
    }
    return render(request, "outbox/index.html", context)


@login_required
@require_POST
def settle(request: HttpRequest, workspace: str, delivery_id: int, decision: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_SOURCES)
    item = selectors.get_item(workspace=ws, item_id=delivery_id)
    assert isinstance(request.user, User)
    if decide(item=item, decision=decision, actor=request.user):
        messages.success(request, str(DONE[decision]))
    else:
        messages.warning(request, _("Nothing to do: its state changed in the meantime."))
    view = request.POST.get("view", "attention")
    view = view if view in selectors.VIEWS else "attention"
    return redirect(f"{reverse('outbox:index', args=[ws.slug])}?view={view}")
