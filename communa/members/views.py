"""Member pages: the list, a profile, the merge suggestion queue, and the POSTs that decide and undo merges.

Thin: resolve the workspace (404 for outsiders, 403 for roles without the permission), fetch with the workspace
in the filter (a miss is a 404), call a selector or a service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from communa.accounts.access import access_workspace, can
from communa.accounts.models import User
from communa.accounts.roles import Perm
from communa.members import manage_views, selectors
from communa.members.engagement.views import profile_context
from communa.members.models import Member, MergeRecord, MergeSuggestion
from communa.members.services import MergeError, decide_suggestion, undo_merge

PAGE_SIZE = 50
SUGGESTIONS_PER_PAGE = 20
TIMELINE_SIZE = 50
SORT_LABELS = {
    "last_seen": gettext_lazy("Last seen"),
    "first_seen": gettext_lazy("First seen"),
    "messages": gettext_lazy("Messages"),
}
REASON_LABELS = {
    "same_email": gettext_lazy("Same email address"),
    "same_handle": gettext_lazy("Same handle on different platforms"),
    "handle_variant": gettext_lazy("The same numbered handle with digits added"),
    "similar_name": gettext_lazy("Similar names"),
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required guarantees it
    return request.user


@login_required
@require_GET
def profile(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    """One person across platforms: identities, activity, languages, timeline, recent merges."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_MEMBERS)
    try:
        member = selectors.get_member(workspace=ws, member_id=member_id)
    except Member.DoesNotExist as exc:
        raise Http404 from exc
    if member.merged_into_id is not None:  # merged away: the person lives on in the other profile
        return redirect("members:profile", ws.slug, member.merged_into_id)
    return render(
        request,
        "members/profile.html",
        {
            "workspace": ws,
            "profile": selectors.member_profile(workspace=ws, member=member),
            "can_manage": can(request.user, ws, Perm.MANAGE_MEMBERS),
            **manage_views.profile_extras(request, ws, member),  # tags, notes, fields, consent
            **profile_context(request, ws, member),  # engagement, facts, paged timeline, other apps' panels
        },
    )


@login_required
@require_GET
def suggestions(request: HttpRequest, workspace: str) -> HttpResponse:
    """The merge suggestion queue, best first, both members side by side."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    paginator = Paginator(selectors.pending_suggestions(workspace=ws), SUGGESTIONS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    items: list[MergeSuggestion] = list(page.object_list)
    identities = selectors.identities_of(
        workspace=ws, member_ids=sorted({s.member_a_id for s in items} | {s.member_b_id for s in items})
    )
    rows = [
        {
            "suggestion": s,
            "a": s.member_a,
            "b": s.member_b,
            "a_identities": identities[s.member_a_id],
            "b_identities": identities[s.member_b_id],
            "reasons": [{**r, "label": REASON_LABELS.get(r["code"], r["code"])} for r in s.reasons],
        }
        for s in items
    ]
    return render(request, "members/suggestions.html", {"workspace": ws, "page": page, "rows": rows})


@login_required
@require_POST
def decide(request: HttpRequest, workspace: str, suggestion_id: int, decision: str) -> HttpResponse:
    """Accept (merge) or reject a suggestion, then back to the queue."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    try:
        suggestion = selectors.get_suggestion(workspace=ws, suggestion_id=suggestion_id)
    except MergeSuggestion.DoesNotExist as exc:
        raise Http404 from exc
    try:
        record = decide_suggestion(
            workspace=ws, suggestion=suggestion, accept=decision == "accept", actor=_user(request)
        )
    except MergeError as exc:
        messages.error(request, str(exc))
        return redirect("members:suggestions", ws.slug)
    if record is not None:
        messages.success(
            request,
            _("Merged into %(name)s. The merge can be undone from their profile.") % {"name": record.into},
        )
    else:
        messages.success(request, _("Rejected. This pair will not be suggested again."))
    return redirect("members:suggestions", ws.slug)


@login_required
@require_POST
def undo(request: HttpRequest, workspace: str, merge_id: int) -> HttpResponse:
    """Undo a merge exactly; back to the profile of the member it had absorbed."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    try:
        record = selectors.get_merge(workspace=ws, merge_id=merge_id)
    except MergeRecord.DoesNotExist as exc:
        raise Http404 from exc
    try:
        undo_merge(workspace=ws, record=record, actor=_user(request))
    except MergeError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("members:profile", args=[ws.slug, record.into_id]))
    messages.success(request, _("The merge was undone: both members are as they were before."))
    return HttpResponseRedirect(reverse("members:profile", args=[ws.slug, record.merged_id]))
