"""The inbox page: a list of conversations (filters, views, bulk actions), the selected conversation with the
member's context, and the composer. Server-rendered; HTMX swaps the panes and polls for changes.

Access: selectors.inbox_access (404 outsiders, 403 roles without an inbox); a conversation the person may
not see is a 404 (selectors.get_conversation). Writes go through services.py, which checks again that the
person may work the conversation (a volunteer: only theirs and their teams').
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from communa.accounts.access import membership_for
from communa.accounts.models import Membership, User
from communa.connectors.models import Source
from communa.inbox import listing, saved_replies, selectors, services, suggestions
from communa.inbox.listing import InboxFilter
from communa.inbox.models import Conversation, Reply, SavedReply, Team
from communa.inbox.selectors import InboxAccess
from communa.members.models import Identity
from communa.stream.models import Message

P = ParamSpec("P")
LIVE_SECONDS = 5  # the open conversation's poll
LIST_SECONDS = 10  # the list's poll
RECENT_ACTIVITY = 5
BULK_LIMIT = 100
SNOOZE_CHOICES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "tomorrow": None, "1w": timedelta(days=7)}


def _inbox(
    view: Callable[Concatenate[HttpRequest, InboxAccess, P], HttpResponse],
) -> Callable[..., HttpResponse]:
    """Resolve the inbox access from the URL's workspace; service refusals become 403. Goes under
    @login_required and the method check, so a visitor is sent to sign in and a wrong method is a 405 that
    says nothing about the workspace."""

    @wraps(view)
    def wrapped(request: HttpRequest, workspace: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        access = _access(request, workspace)
        try:
            return view(request, access, *args, **kwargs)
        except PermissionError as exc:
            raise PermissionDenied from exc

    return wrapped


def _access(request: HttpRequest, slug: str) -> InboxAccess:
    """selectors.inbox_access, reusing the signed-in user instead of loading it again with the membership."""
    membership = membership_for(request.user, slug)
    scope = selectors.inbox_scope(membership.role)
    if scope is None:
        raise PermissionDenied
    assert isinstance(request.user, User)  # membership_for refused visitors
    return InboxAccess(workspace=membership.workspace, user=request.user, role=membership.role, scope=scope)


def _conversation(access: InboxAccess, conversation_id: int) -> Conversation:
    return selectors.get_conversation(access=access, conversation_id=conversation_id)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- the list --------------------------------------------------------------------------------------------


def _list_context(
    request: HttpRequest, access: InboxAccess, *, selected: int | None = None, people: list[User] | None = None
) -> dict[str, Any]:
    flt = InboxFilter.from_query(request.GET)
    try:
        page = listing.paginate(
            listing.filtered(access=access, flt=flt), sort=flt.sort, cursor=request.GET.get("cursor")
        )
    except listing.InvalidCursor as exc:
        raise Http404 from exc
    rows = [(c, listing.priority_band(c.priority)) for c in page.items]
    counts = listing.tab_counts(access=access)
    fingerprint = hashlib.sha1(  # noqa: S324 - a change detector, not security
        ";".join(f"{c.pk}:{c.version}:{c.state}:{c.assignee_id}" for c in page.items).encode()
    ).hexdigest()[:16]
    return {
        "workspace": access.workspace,
        "access": access,
        "flt": flt,
        "query": flt.query_string(),
        "view": listing.view_of(flt),
        "view_links": _view_links(access, counts),
        "rows": rows,
        "page": page,
        "appending": bool(request.GET.get("cursor")),
        "fingerprint": fingerprint,
        "counts": counts,
        "selected": selected,
        "poll_seconds": LIST_SECONDS,
        "people": _people(access) if people is None else people,
        "now": timezone.now(),
    }


def _view_links(access: InboxAccess, counts: dict[str, int]) -> list[tuple[str, Any, str, int | None]]:
    base = reverse("inbox:index", args=[access.workspace.slug])
    return [
        (name, label, f"{base}?{urlencode(params)}" if params else base, counts.get(name))
        for name, (label, params) in listing.VIEWS.items()
    ]


def _filter_options(access: InboxAccess) -> dict[str, Any]:
    ws = access.workspace
    return {
        "sources": list(Source.objects.filter(workspace=ws).order_by("name").values_list("pk", "name")),
        "teams": list(Team.objects.filter(workspace=ws).order_by("name").values_list("pk", "name")),
        "people": _people(access),
        "states": Conversation.State.choices,
        "priorities": listing.PRIORITY_LABELS,
        "sorts": listing.SORT_LABELS,
        "snooze_choices": SNOOZE_CHOICES,
    }


def _people(access: InboxAccess) -> list[User]:
    """People conversations can be given to: the workspace's members who have an inbox."""
    memberships = (
        Membership.objects.filter(workspace=access.workspace).select_related("user").order_by("user__username")
    )
    return [m.user for m in memberships if selectors.inbox_scope(m.role) is not None]


@login_required
@require_GET
@_inbox
def index(request: HttpRequest, access: InboxAccess) -> HttpResponse:
    if _is_htmx(request) and request.headers.get("HX-Target") in {"inbox-list", "inbox-more"}:
        context = _list_context(request, access)
        if request.GET.get("fingerprint") == context["fingerprint"] and not context["appending"]:
            return HttpResponse(status=204)  # the poll found nothing new: HTMX leaves the list alone
        return render(request, "inbox/partials/list.html", context)
    options = _filter_options(access)
    context = _list_context(request, access, people=options["people"])
    return render(request, "inbox/index.html", {**context, **options})


# --- one conversation ---------------------------------------------------------------------------------------


def _member_context(conversation: Conversation) -> dict[str, Any]:
    if conversation.member_id is None:
        return {"identities": [], "recent": [], "past": []}
    identities = list(
        Identity.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id).order_by(
            "platform", "pk"
        )
    )
    recent = list(
        Message.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id)
        .exclude(text="", title="")  # joins, leaves, reactions: not activity worth reading here
        .select_related("source")
        .order_by("-created_at", "-id")[:RECENT_ACTIVITY]
    )
    return {"identities": identities, "recent": recent, "past": selectors.past_conversations(conversation=conversation)}


def _live_fingerprint(conversation: Conversation) -> str:
    replies = Reply.objects.filter(conversation=conversation).order_by("-updated_at").values_list("updated_at", "state")
    newest_reply = replies.first()
    notes = conversation.notes.order_by("-id").values_list("id", flat=True).first()
    raw = f"{conversation.version}:{conversation.message_count}:{conversation.updated_at}:{newest_reply}:{notes}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]  # noqa: S324 - a change detector


def _draft(request: HttpRequest, conversation: Conversation) -> str:
    """The text of a reply that could not be queued, so nothing typed is lost."""
    saved = request.session.get("inbox_draft")
    if isinstance(saved, dict) and saved.get("conversation") == conversation.pk:
        del request.session["inbox_draft"]
        return str(saved.get("text", ""))
    return ""


def _conversation_context(request: HttpRequest, access: InboxAccess, conversation: Conversation) -> dict[str, Any]:
    user = access.user
    first_response = conversation.first_response_at - conversation.opened_at if conversation.first_response_at else None
    return {
        "workspace": access.workspace,
        "access": access,
        "conversation": conversation,
        "band": listing.priority_band(conversation.priority),
        "timeline": selectors.timeline(conversation=conversation),
        "composing": selectors.others_composing(conversation=conversation, user=user),
        "first_response": first_response,
        "resolution": conversation.resolved_at - conversation.opened_at if conversation.resolved_at else None,
        "live": _live_fingerprint(conversation),
        "live_seconds": LIVE_SECONDS,
        "query": InboxFilter.from_query(request.GET).query_string(),
        "now": timezone.now(),
        "draft": _draft(request, conversation),
        **_member_context(conversation),
    }


@login_required
@require_GET
@_inbox
def conversation(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    context = _conversation_context(request, access, conv)
    context.update(_filter_options(access))
    if _is_htmx(request) and request.headers.get("HX-Target") == "inbox-conversation":
        return render(request, "inbox/partials/conversation.html", context)
    context.update(_list_context(request, access, selected=conv.pk, people=context["people"]))
    return render(request, "inbox/index.html", context)


@login_required
@require_GET
@_inbox
def live(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    """The open conversation's poll: who else is replying, and the timeline again when something changed."""
    conv = _conversation(access, conversation_id)
    fingerprint = _live_fingerprint(conv)
    changed = request.GET.get("v") != fingerprint
    context: dict[str, Any] = {
        "workspace": access.workspace,
        "conversation": conv,
        "composing": selectors.others_composing(conversation=conv, user=access.user),
        "live": fingerprint,
        "live_seconds": LIVE_SECONDS,
        "changed": changed,
        "now": timezone.now(),
    }
    if changed:
        context["timeline"] = selectors.timeline(conversation=conv)
        context["band"] = listing.priority_band(conv.priority)
        context["first_response"] = conv.first_response_at - conv.opened_at if conv.first_response_at else None
        context["resolution"] = conv.resolved_at - conv.opened_at if conv.resolved_at else None
    return render(request, "inbox/partials/live.html", context)


@login_required
@require_GET
@_inbox
def suggested(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    """Suggested answers, loaded after the conversation (the encoder may take a moment the first time)."""
    conv = _conversation(access, conversation_id)
    found = suggestions.suggest(conversation=conv)
    rendered = {}
    if found.saved_replies:
        chosen = SavedReply.objects.filter(
            workspace=access.workspace, pk__in=[s.saved_reply_id for s in found.saved_replies]
        ).prefetch_related("variants")
        rendered = {s.pk: saved_replies.render(saved_reply=s, conversation=conv, user=access.user).text for s in chosen}
    context = {"workspace": access.workspace, "conversation": conv, "found": found, "rendered": rendered}
    return render(request, "inbox/partials/suggestions.html", context)


@login_required
@require_GET
@_inbox
def saved_reply_picker(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    """The composer's "/" menu: saved replies matching what follows the slash, rendered for this conversation."""
    conv = _conversation(access, conversation_id)
    found = saved_replies.search(workspace=access.workspace, query=request.GET.get("q", "")[:60], limit=8)
    items = [(s, saved_replies.render(saved_reply=s, conversation=conv, user=access.user)) for s in found]
    return render(request, "inbox/partials/saved_replies.html", {"items": items, "conversation": conv})


# --- writes ----------------------------------------------------------------------------------------------------


def _version(request: HttpRequest) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


def _back(request: HttpRequest, access: InboxAccess, conv: Conversation | None = None) -> HttpResponse:
    query = request.POST.get("query", "")
    if conv is not None:
        url = reverse("inbox:conversation", args=[access.workspace.slug, conv.pk])
    else:
        url = reverse("inbox:index", args=[access.workspace.slug])
    target = f"{url}?{query}" if query else url
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = url
    return redirect(target)


def _stale(request: HttpRequest, exc: services.StaleConversation) -> None:
    messages.warning(request, _("Someone else changed this conversation meanwhile: here it is as it is now."))


def _attempt(request: HttpRequest, change: Callable[[], object]) -> None:
    """Run a service change; a conflicting version or a refusal becomes a message on the page it returns to."""
    try:
        change()
    except services.StaleConversation as exc:
        _stale(request, exc)
    except services.InboxError as exc:
        messages.error(request, str(exc))


@login_required
@require_POST
@_inbox
def reply(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    saved = None
    if request.POST.get("saved_reply", "").isdigit():
        saved = SavedReply.objects.filter(workspace=access.workspace, pk=int(request.POST["saved_reply"])).first()
    after = request.POST.get("after") or None
    try:
        services.send_reply(
            conversation=conv, author=access.user, text=request.POST.get("text", ""), saved_reply=saved,
            state_after=after,
        )  # fmt: skip
    except services.StaleConversation as exc:
        _stale(request, exc)
    except services.InboxError as exc:
        messages.error(request, str(exc))
        request.session["inbox_draft"] = {"conversation": conv.pk, "text": request.POST.get("text", "")[:20_000]}
    else:
        messages.success(request, _("Reply queued: it goes out through the outbox in a moment."))
    return _back(request, access, conv)


@login_required
@require_POST
@_inbox
def retry_reply(request: HttpRequest, access: InboxAccess, conversation_id: int, reply_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    found = Reply.objects.filter(workspace=access.workspace, conversation=conv, pk=reply_id).first()
    if found is None:
        raise Http404
    try:
        services.retry_reply(reply=found, actor=access.user, text=request.POST.get("text", ""))
    except services.InboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Reply queued again."))
    return _back(request, access, conv)


@login_required
@require_POST
@_inbox
def note(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    try:
        services.add_note(conversation=conv, author=access.user, text=request.POST.get("text", ""))
    except services.InboxError as exc:
        messages.error(request, str(exc))
    return _back(request, access, conv)


def _snooze_until(choice: str, custom: str, now: datetime) -> datetime | None:
    if choice == "tomorrow":
        local = timezone.localtime(now)
        return (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    if choice in SNOOZE_CHOICES:
        return now + (SNOOZE_CHOICES[choice] or timedelta())
    parsed = parse_datetime(custom) if custom else None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


@login_required
@require_POST
@_inbox
def change_state(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    state = request.POST.get("state", "")
    until = _snooze_until(request.POST.get("snooze", ""), request.POST.get("until", ""), timezone.now())
    _attempt(request, lambda: services.change_state(
        conversation=conv, actor=access.user, state=state, expected_version=_version(request),
        snoozed_until=until if state == Conversation.State.SNOOZED else None,
    ))  # fmt: skip
    return _back(request, access, conv)


def _assignee_and_team(access: InboxAccess, data: Any) -> tuple[User | None, Team | None]:
    """The person and team named in the form, both of this workspace; "me" is the person asking."""
    person_value, team_value = str(data.get("assignee", "")), str(data.get("team", ""))
    person = None
    if person_value == "me":
        person = access.user
    elif person_value.isdigit():
        person = User.objects.filter(pk=int(person_value), memberships__workspace=access.workspace).first()
        if person is None:
            raise Http404
    team = None
    if team_value.isdigit():
        team = Team.objects.filter(workspace=access.workspace, pk=int(team_value)).first()
        if team is None:
            raise Http404
    return person, team


@login_required
@require_POST
@_inbox
def assign(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    person, team = _assignee_and_team(access, request.POST)
    if "team" not in request.POST:
        team = conv.team  # the person picker alone keeps the team
    _attempt(request, lambda: services.assign(
        conversation=conv, actor=access.user, assignee=person, team=team, expected_version=_version(request)
    ))  # fmt: skip
    return _back(request, access, conv)


@login_required
@require_POST
@_inbox
def priority(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = _conversation(access, conversation_id)
    value = request.POST.get("priority", "")
    _attempt(request, lambda: services.override_priority(
        conversation=conv, actor=access.user, priority=int(value) if value.isdigit() else None,
        expected_version=_version(request),
    ))  # fmt: skip
    return _back(request, access, conv)


@login_required
@require_POST
@_inbox
def composing(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    """The composer's heartbeat while someone types: others see "X is replying"."""
    conv = _conversation(access, conversation_id)
    if request.POST.get("stop"):
        services.stop_composing(conversation=conv, user=access.user)
    else:
        services.mark_composing(conversation=conv, user=access.user)
    return HttpResponse(status=204)


@login_required
@require_POST
@_inbox
def bulk(request: HttpRequest, access: InboxAccess) -> HttpResponse:
    """Assign, resolve, reopen or snooze the ticked conversations (at most BULK_LIMIT, only visible ones)."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()][:BULK_LIMIT]
    action = request.POST.get("action", "")
    chosen = list(selectors.visible(access=access).filter(pk__in=ids).order_by("pk"))
    person, team = _assignee_and_team(access, request.POST) if action == "assign" else (None, None)
    until = _snooze_until(request.POST.get("snooze", "1h"), "", timezone.now())
    done, failed = 0, 0
    for conv in chosen:
        try:
            if action == "assign":
                services.assign(conversation=conv, actor=access.user, assignee=person, team=team or conv.team)
            elif action in {"resolved", "open", "pending"}:
                services.change_state(conversation=conv, actor=access.user, state=action)
            elif action == "snoozed":
                services.change_state(conversation=conv, actor=access.user, state=action, snoozed_until=until)
            else:
                raise services.InboxError(_("Choose what to do with the selected conversations."))
            done += 1
        except (services.InboxError, PermissionError):
            failed += 1
    if done:
        messages.success(
            request, ngettext("%(n)d conversation updated.", "%(n)d conversations updated.", done) % {"n": done}
        )
    if failed:
        text = ngettext("%(n)d conversation could not be changed.", "%(n)d conversations could not be changed.", failed)
        messages.error(request, text % {"n": failed})
    return _back(request, access)


@login_required
@require_GET
@_inbox
def member_panel(request: HttpRequest, access: InboxAccess, member_id: int) -> HttpResponse:
    """A member's conversations, newest first, for their profile (loaded by HTMX): what this person may see."""
    conversations, total = selectors.member_conversations(access=access, member_id=member_id)
    context = {"workspace": access.workspace, "conversations": conversations, "total": total}
    return render(request, "inbox/partials/member_panel.html", context)
