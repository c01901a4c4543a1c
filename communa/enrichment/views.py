"""A moderator corrects a signal of one message ("not toxic", "sentiment is positive")."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from communa.accounts.access import access_workspace
from communa.accounts.models import User
from communa.accounts.roles import Perm
from communa.enrichment.services import InvalidCorrection, correct_signal
from communa.stream.models import Message
from communa.stream.selectors import get_message


@login_required
@require_POST
def correct(request: HttpRequest, workspace: str, message_id: int) -> HttpResponse:
    """Store the correction; answer HTMX with the message's refreshed signals, a form post with a redirect."""
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    try:
        message = get_message(workspace=ws, message_id=message_id)
    except Message.DoesNotExist as exc:
        raise Http404 from exc
    assert isinstance(request.user, User)
    try:
        correct_signal(
            workspace=ws,
            message=message,
            task=request.POST.get("task", ""),
            label=request.POST.get("label", ""),
            actor=request.user,
        )
    except InvalidCorrection:
        return HttpResponseBadRequest()
    if not request.headers.get("HX-Request"):
        return redirect(f"{reverse('stream:index', kwargs={'workspace': ws.slug})}#message-{message.pk}")
    message = get_message(workspace=ws, message_id=message_id)
    return render(request, "enrichment/partials/signals.html", {"m": message, "workspace": ws})
