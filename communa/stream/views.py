"""The stream page: every message from every source, newest first, filtered from the query string.

One view serves three shapes of the same list, so links stay shareable and the page works without
JavaScript: the full page; the results fragment (HTMX, after a filter changed); and the next page of
messages appended by "Load more" (HTMX with a cursor). A second, tiny view answers the 15-second poll.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from django_htmx.http import push_url
from django_htmx.middleware import HtmxDetails
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from communa.accounts.access import access_workspace
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm
from communa.connectors.base import MessageKind
from communa.connectors.registry import CONNECTORS, connector_class
from communa.connectors.selectors import sources_of
from communa.core.pagination import InvalidCursor, decode_cursor
from communa.stream.filters import MessageFilter, filter_messages
from communa.stream.models import Message
from communa.stream.selectors import languages_in_use, message_page

PAGE_SIZE = 50
# The poll says "99+" rather than counting a flood exactly every 15 seconds.
NEW_COUNT_CAP = 99
FILTERS_FORM_ID = "stream-filters"
LIST_PARAMS = ("source", "language", "kind", "sentiment")
SINGLE_PARAMS = ("since", "until", "q", "member", "thread", "toxic", "spam", "question")

KIND_LABELS: dict[str, str | Promise] = {
    MessageKind.POST: _("Post"),
    MessageKind.COMMENT: _("Comment"),
    MessageKind.CHAT: _("Chat"),
    MessageKind.EMAIL: _("Email"),
    MessageKind.REACTION: _("Reaction"),
    MessageKind.JOIN: _("Joined"),
    MessageKind.LEAVE: _("Left"),
    MessageKind.ARTICLE: _("Article"),
    MessageKind.OTHER: _("Other"),
}

# Signals from enrichment (docs/understanding.md): the filter menus' choices.
SENTIMENT_CHOICES: list[tuple[str, str | Promise]] = [
    ("negative", _("Negative")),
    ("neutral", _("Neutral")),
    ("positive", _("Positive")),
]
FLAG_FILTERS: list[tuple[str, str | Promise, str | Promise, str | Promise]] = [
    # (parameter, label, "true" choice, "false" choice)
    ("toxic", _("Toxicity"), _("Toxic"), _("Not toxic")),
    ("spam", _("Spam"), _("Spam"), _("Not spam")),
    ("question", _("Questions"), _("Questions"), _("Not questions")),
]

# Kinds that say little by themselves: shown as one line so they do not bury what people wrote.
COMPACT_KINDS = frozenset({MessageKind.REACTION, MessageKind.JOIN, MessageKind.LEAVE})

FILTER_ERRORS: dict[str, str | Promise] = {
    "source": _("Choose sources from the list."),
    "language": _("Choose a language from the list."),
    "kind": _("Choose a kind from the list."),
    "since": _("Enter a date as YYYY-MM-DD."),
    "until": _("Enter a date as YYYY-MM-DD."),
    "q": _("Search for at most 200 characters."),
    "member": _("This member link is not valid."),
    "thread": _("This thread link is not valid."),
    "sentiment": _("Choose a sentiment from the list."),
    "toxic": _("Choose from the list."),
    "spam": _("Choose from the list."),
    "question": _("Choose from the list."),
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclasses.dataclass(frozen=True)
class ParsedFilter:
    """The filter to apply (valid values only), what was wrong with the rest, and its canonical query."""

    flt: MessageFilter
    errors: dict[str, str | Promise]

    @property
    def params(self) -> QueryDict:
        """The applied filter as a query string: the shareable URL of what is on screen."""
        query = QueryDict(mutable=True)
        for key, value in self.flt.model_dump(mode="json", exclude_defaults=True).items():
            query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [_query_value(value)])
        return query


def _query_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def parse_filter(params: QueryDict) -> ParsedFilter:
    """Read a MessageFilter from the query string; a bad value is reported and left out, never a 500."""
    data = _raw_filter_data(params)
    errors: dict[str, str | Promise] = {}
    try:
        flt = MessageFilter.model_validate(data)
    except ValidationError as exc:
        errors = {field: FILTER_ERRORS[field] for field in _invalid_fields(exc.errors())}
        flt = MessageFilter.model_validate({k: v for k, v in data.items() if k not in errors})
    if flt.since and flt.until and flt.until < flt.since:
        errors["until"] = _("The end date is before the start date.")
        flt = flt.model_copy(update={"until": None})
    return ParsedFilter(flt=flt, errors=errors)


def _raw_filter_data(params: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {key: [v for v in params.getlist(key) if v.strip()] for key in LIST_PARAMS}
    data.update({key: params[key] for key in SINGLE_PARAMS if params.get(key, "").strip()})
    return {key: value for key, value in data.items() if value}


def _invalid_fields(errors: list[ErrorDetails]) -> set[str]:
    return {str(error["loc"][0]) for error in errors if error["loc"] and error["loc"][0] in FILTER_ERRORS}


def _cursor(params: QueryDict) -> tuple[str | None, bool]:
    """The "load more" cursor, and whether one was given but could not be read (a mangled link)."""
    cursor = params.get("cursor", "").strip()
    if not cursor:
        return None, False
    try:
        decode_cursor(cursor)
    except InvalidCursor:
        return None, True
    return cursor, False


def _latest_message_id() -> int:
    """The newest message id anywhere: the poll counts matching messages above it.

    Ids only grow, so "id above the watermark" means "stored after the page was drawn", including history
    imported late. Taking the table-wide maximum is one index lookup, where a per-workspace maximum would
    scan the workspace; ids are visible in the API anyway, so the number reveals nothing new.
    """
    return Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _source_kind_labels() -> dict[str, str | Promise]:
    return {kind: connector_class(kind).label for kind in CONNECTORS}


def _remember_workspace(request: HttpRequest, workspace: Workspace) -> None:
    """The home page reopens the last workspace; write the session only when it changes."""
    if request.session.get("workspace") != workspace.slug:
        request.session["workspace"] = workspace.slug


@login_required
@require_GET
def index(request: HtmxHttpRequest, workspace: str) -> HttpResponse:
    """The stream, as a full page or (for HTMX) the results fragment or the next page of messages."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_STREAM)
    _remember_workspace(request, ws)
    parsed = parse_filter(request.GET)
    cursor, bad_cursor = _cursor(request.GET)
    page = message_page(workspace=ws, flt=parsed.flt, cursor=cursor, limit=PAGE_SIZE)
    context: dict[str, Any] = {
        "workspace": ws,
        "page": page,
        "flt": parsed.flt,
        "filter_errors": parsed.errors,
        "filter_params": parsed.params,
        "bad_cursor": bad_cursor,
        "is_continuation": cursor is not None,
        "watermark": _latest_message_id() if cursor is None else None,
        "kind_labels": KIND_LABELS,
        "compact_kinds": COMPACT_KINDS,
        "source_kind_labels": _source_kind_labels(),
        "filter_error_names": list(FILTER_ERRORS),
        "is_fragment": bool(request.htmx) and not request.htmx.history_restore_request,
    }
    if context["is_fragment"]:
        response = _render_fragment(request, ws, context, appending=cursor is not None)
    else:
        response = _render_page(request, ws, context)
    # The same URL answers with a page or a fragment: caches (and the back button) must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _render_fragment(
    request: HtmxHttpRequest, ws: Workspace, context: dict[str, Any], *, appending: bool
) -> HttpResponse:
    if appending:
        return render(request, "stream/partials/more.html", context)
    if not context["page"].items:
        context["has_sources"] = sources_of(workspace=ws).exists()
    response = render(request, "stream/partials/results.html", context)
    if request.htmx.trigger == FILTERS_FORM_ID:
        # Put the applied filter in the address bar, without the empty fields a form submits.
        push_url(response, _stream_url(ws, context["filter_params"]))
    return response


def _render_page(request: HtmxHttpRequest, ws: Workspace, context: dict[str, Any]) -> HttpResponse:
    sources = list(sources_of(workspace=ws))
    context.update(
        sources=sources,
        has_sources=bool(sources),
        languages=_language_choices(ws, context["flt"]),
        kinds=list(KIND_LABELS.items()),
        sentiments=SENTIMENT_CHOICES,
        flag_filters=[(*choice, getattr(context["flt"], choice[0])) for choice in FLAG_FILTERS],
        raw=_raw_values(request.GET),
    )
    return render(request, "stream/index.html", context)


def _language_choices(ws: Workspace, flt: MessageFilter) -> list[str]:
    # Keep a language chosen in a shared link selectable even if no message uses it any more.
    return sorted(set(languages_in_use(workspace=ws)) | set(flt.language))


def _raw_values(params: QueryDict) -> dict[str, str]:
    """What the person typed, shown back in the form even when it was not valid (so they can fix it)."""
    return {key: params.get(key, "") for key in (*SINGLE_PARAMS, "language", "kind")}


def _stream_url(ws: Workspace, params: QueryDict) -> str:
    url = reverse("stream:index", kwargs={"workspace": ws.slug})
    return f"{url}?{params.urlencode()}" if params else url


@login_required
@require_GET
def new_count(request: HttpRequest, workspace: str) -> HttpResponse:
    """How many messages matching the filter arrived after the page was drawn (the 15-second poll)."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_STREAM)
    parsed = parse_filter(request.GET)
    try:
        watermark = int(request.GET.get("after", ""))
    except ValueError:
        return HttpResponse(status=400)
    newer = filter_messages(workspace=ws, flt=parsed.flt).filter(pk__gt=watermark)
    count = newer[: NEW_COUNT_CAP + 1].count()
    context = {
        "workspace": ws,
        "count": min(count, NEW_COUNT_CAP),
        "more_than_cap": count > NEW_COUNT_CAP,
        "filter_params": parsed.params,
    }
    return render(request, "stream/partials/new_count.html", context)
