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
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from communa.accounts.access import membership_for
from communa.accounts.models import User
from communa.accounts.roles import Perm, role_has
from communa.inbox import display, listing, saved_replies, selectors, services, shared_views, suggestions
from communa.inbox.listing import InboxFilter
from communa.inbox.models import Conversation, Reply, SavedReply, SharedView, Team
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


def _rows_page(request: HttpRequest, access: InboxAccess) -> tuple[InboxFilter, listing.Page, str]:
    """The filter, the page of rows and its fingerprint (ids, versions, states, assignees: what the poll compares)."""
    flt = InboxFilter.from_query(request.GET)
    try:
        page = listing.paginate(
            listing.filtered(access=access, flt=flt).only(*listing.ROW_FIELDS),
            sort=flt.sort,
            cursor=request.GET.get("cursor"),
        )
    except listing.InvalidCursor as exc:
        raise Http404 from exc
    fingerprint = hashlib.sha1(  # noqa: S324 - a change detector, not security
        ";".join(f"{c.pk}:{c.version}:{c.state}:{c.assignee_id}" for c in page.items).encode()
    ).hexdigest()[:16]
    return flt, page, fingerprint


def _list_context(
    request: HttpRequest,
    access: InboxAccess,
    options: selectors.PickerOptions,
    *,
    selected: int | None = None,
    rows: tuple[InboxFilter, listing.Page, str] | None = None,
    with_views: bool = True,
) -> dict[str, Any]:
    """The list pane; `with_views` adds the views above it with their counts (the full page: the list's own
    fragment has no views, so its poll does not count)."""
    flt, page, fingerprint = rows or _rows_page(request, access)
    now = timezone.now()
    query = flt.query_string()
    base = reverse("inbox:index", args=[access.workspace.slug])
    shown = listing.display_rows(page.items, base_url=base, query=query, now=now)
    context = {
        "workspace": access.workspace,
        "access": access,
        "flt": flt,
        "query": query,
        "rows": shown,
        "rows_html": listing.rows_html(shown, selected=selected),
        "page": page,
        "appending": bool(request.GET.get("cursor")),
        "fingerprint": fingerprint,
        "selected": selected,
        "poll_seconds": LIST_SECONDS,
        "people": options.people,
        "now": now,
    }
    if with_views:
        counts = listing.tab_counts(access=access)
        context |= {
            "counts": counts,
            "view": listing.view_of(flt),
            "view_links": _view_links(base, counts),
            "shared_views": _shared_view_links(access, base, options, query),
        }
    return context


def _view_links(base: str, counts: dict[str, int]) -> list[tuple[str, Any, str, int | None]]:
    return [
        (name, label, f"{base}?{urlencode(params)}" if params else base, counts.get(name))
        for name, (label, params) in listing.VIEWS.items()
    ]


def _shared_view_links(
    access: InboxAccess, base: str, options: selectors.PickerOptions, query: str
) -> list[dict[str, Any]]:
    """The workspace's shared views: link, whether the list shows it now, whether this person may remove it."""
    may_remove_any = role_has(access.role, Perm.REPLY)
    return [
        {
            "pk": v.pk,
            "name": v.name,
            "url": f"{base}?{v.query}" if v.query else base,
            "current": v.query == query,
            "removable": may_remove_any or v.created_by_id == access.user.pk,
        }
        for v in options.shared_views
    ]


def _options_context(options: selectors.PickerOptions) -> dict[str, Any]:
    return {
        "sources": options.sources,
        "teams": options.teams,
        "people": options.people,
        "states": Conversation.State.choices,
        "priorities": listing.PRIORITY_LABELS,
        "sorts": listing.SORT_LABELS,
        "snooze_choices": SNOOZE_CHOICES,
    }


def _fragment(request: HttpRequest, access: InboxAccess, template: str, context: dict[str, Any]) -> HttpResponse:
    """An HTMX fragment, rendered without the context processors: their workspace switcher and navigation are
    for full pages and cost a query on every poll. A fragment gets the two things it uses from them."""
    context = {
        **context,
        "csrf_token": get_token(request),
        "current_perms": frozenset(p.value for p in Perm if role_has(access.role, p)),
    }
    return HttpResponse(render_to_string(template, context))


@login_required
@require_GET
@_inbox
def index(request: HttpRequest, access: InboxAccess) -> HttpResponse:
    if _is_htmx(request) and request.headers.get("HX-Target") in {"inbox-list", "inbox-more"}:
        rows = _rows_page(request, access)
        if request.GET.get("fingerprint") == rows[2] and not request.GET.get("cursor"):
            return HttpResponse(status=204)  # the poll found nothing new: HTMX leaves the list alone
        options = selectors.picker_options(workspace=access.workspace)
        context = _list_context(request, access, options, rows=rows, with_views=False)
        return _fragment(request, access, "inbox/partials/list.html", context)
    options = selectors.picker_options(workspace=access.workspace)
    context = _list_context(request, access, options)
    return render(request, "inbox/index.html", {**context, **_options_context(options)})


# --- one conversation ---------------------------------------------------------------------------------------


def _member_context(conversation: Conversation) -> dict[str, Any]:
    if conversation.member_id is None:
        return {"identities": [], "recent": [], "past": []}
    # Only the columns partials/member.html shows: fewer columns to compile, fetch and build per request.
    identities = list(
        Identity.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id)
        .only("platform", "url", "handle", "display_name", "external_id")
        .order_by("platform", "pk")
    )
    recent = list(
        Message.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id)
        .exclude(text="", title="")  # joins, leaves, reactions: not activity worth reading here
        .select_related("source")
        .only("created_at", "title", "text", "source__name")
        .order_by("-created_at", "-id")[:RECENT_ACTIVITY]
    )
    return {"identities": identities, "recent": recent, "past": selectors.past_conversations(conversation=conversation)}


def _live_fingerprint(conversation: Conversation, changes: selectors.Changes) -> str:
    reply = f"{changes.reply_at.isoformat()}:{changes.reply_state}" if changes.reply_at else ""
    raw = f"{conversation.version}:{conversation.message_count}:{conversation.updated_at}:{reply}:{changes.note_id}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]  # noqa: S324 - a change detector


def _draft(request: HttpRequest, conversation: Conversation) -> str:
    """The text of a reply that could not be queued, so nothing typed is lost."""
    saved = request.session.get("inbox_draft")
    if isinstance(saved, dict) and saved.get("conversation") == conversation.pk:
        del request.session["inbox_draft"]
        return str(saved.get("text", ""))
    return ""


def _conversation_context(
    request: HttpRequest, access: InboxAccess, conversation: Conversation, options: selectors.PickerOptions
) -> dict[str, Any]:
    timeline = display.timeline_lines(selectors.timeline(conversation=conversation), now=timezone.now())
    return {
        "workspace": access.workspace,
        "access": access,
        "conversation": conversation,
        "timeline": timeline,
        "composing": selectors.others_composing(conversation=conversation, user=access.user),
        "live": _live_fingerprint(conversation, selectors.Changes.of(conversation)),
        "live_seconds": LIVE_SECONDS,
        "query": InboxFilter.from_query(request.GET).query_string(),
        "draft": _draft(request, conversation),
        **_header_context(conversation, options),
        **_member_context(conversation),
    }


def _header_context(conversation: Conversation, options: selectors.PickerOptions) -> dict[str, Any]:
    """What the conversation's header shows besides the conversation: its band, durations and the pickers."""
    opened = conversation.opened_at
    return {
        "band": listing.priority_band(conversation.priority),
        "first_response": conversation.first_response_at - opened if conversation.first_response_at else None,
        "resolution": conversation.resolved_at - opened if conversation.resolved_at else None,
        "people": options.people,
        "teams": options.teams,
        "now": timezone.now(),
    }


@login_required
@require_GET
@_inbox
def conversation(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    conv = selectors.get_conversation(
        access=access, conversation_id=conversation_id, with_changes=True, related=selectors.FOR_PAGE
    )
    options = selectors.picker_options(workspace=access.workspace)
    context = _conversation_context(request, access, conv, options)
    if _is_htmx(request) and request.headers.get("HX-Target") == "inbox-conversation":
        return _fragment(request, access, "inbox/partials/conversation.html", context)
    context.update(_options_context(options))
    context.update(_list_context(request, access, options, selected=conv.pk))
    return render(request, "inbox/index.html", context)


@login_required
@require_GET
@_inbox
def live(request: HttpRequest, access: InboxAccess, conversation_id: int) -> HttpResponse:
    """The open conversation's poll: who else is replying, and the timeline again when something changed.
    Unchanged, it costs the conversation (with its newest reply and note folded in) and who is composing."""
    conv = selectors.get_conversation(
        access=access, conversation_id=conversation_id, with_changes=True, related=selectors.FOR_PAGE
    )
    fingerprint = _live_fingerprint(conv, selectors.Changes.of(conv))
    changed = request.GET.get("v") != fingerprint
    context: dict[str, Any] = {
        "workspace": access.workspace,
        "access": access,
        "conversation": conv,
        "composing": selectors.others_composing(conversation=conv, user=access.user),
        "live": fingerprint,
        "live_seconds": LIVE_SECONDS,
        "changed": changed,
        "query": InboxFilter.from_query(request.GET).query_string(),
        "now": timezone.now(),
    }
    if changed:
        context["timeline"] = display.timeline_lines(selectors.timeline(conversation=conv), now=context["now"])
        context.update(_header_context(conv, selectors.picker_options(workspace=access.workspace)))
    return _fragment(request, access, "inbox/partials/live.html", context)


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


# --- shared views ----------------------------------------------------------------------------------------------


@login_required
@require_POST
@_inbox
def share_view(request: HttpRequest, access: InboxAccess) -> HttpResponse:
    """Share the filter of the form (the list's filter panel) with the team under a name."""
    params = {k: request.POST.get(k, "") for k in request.POST if k not in {"name", "csrfmiddlewaretoken"}}
    try:
        view = shared_views.share_view(
            workspace=access.workspace, actor=access.user, name=request.POST.get("name", ""), params=params
        )
    except services.InboxError as exc:
        messages.error(request, str(exc))
        return _back(request, access)
    messages.success(request, _("“%(name)s” is now a view for the whole team.") % {"name": view.name})
    base = reverse("inbox:index", args=[access.workspace.slug])
    return redirect(f"{base}?{view.query}" if view.query else base)


@login_required
@require_POST
@_inbox
def remove_view(request: HttpRequest, access: InboxAccess, view_id: int) -> HttpResponse:
    view = SharedView.objects.filter(workspace=access.workspace, pk=view_id).first()
    if view is None:
        raise Http404
    shared_views.remove_view(view=view, actor=access.user)
    messages.success(request, _("The shared view “%(name)s” was removed.") % {"name": view.name})
    return redirect(reverse("inbox:index", args=[access.workspace.slug]))


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
