"""Small presentation helpers shared by every page: `{% load communa_ui %}`.

Nothing here knows about a domain: these filters format values and build links, so any app may use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import get_language_info, gettext

register = template.Library()

SAFE_LINK_SCHEMES = frozenset({"http", "https"})


@register.filter
def http_url(value: object) -> str:
    """The value if it is an absolute http(s) URL, else "": platform URLs are hostile (javascript:, data:)."""
    text = str(value or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in SAFE_LINK_SCHEMES or not parts.netloc:
        return ""
    return text


@register.filter
def ago(value: datetime | None) -> str:
    """A short relative time ("3 hours ago"); the exact time belongs in a title next to it."""
    if value is None:
        return ""
    delta = timezone.now() - value
    if delta < timedelta(minutes=1):
        # A platform clock slightly ahead of ours must not read "in 0 minutes".
        return gettext("just now")
    return gettext("%(delta)s ago") % {"delta": timesince(value, depth=1)}


@register.filter
def language_name(code: object) -> str:
    """The language's name in the current UI language ("Italiano" / "Italian"), or the code itself."""
    text = str(code or "")
    if not text:
        return ""
    try:
        info: dict[str, Any] = get_language_info(text)
    except KeyError:
        return text
    return str(info["name_translated"])


@register.filter
def get_item(mapping: Mapping[Any, Any] | None, key: object) -> Any:
    """`mapping[key]`, or "" when the key is missing (use `|default:` for a fallback)."""
    if not mapping:
        return ""
    return mapping.get(key, "")


@register.simple_tag
def query_with(params: QueryDict, **changes: object) -> str:
    """The query string `params` with `changes` applied; a change to None or "" removes that key.

    `{% query_with request.GET cursor=page.next_cursor %}` keeps the active filters on a "load more" link.
    """
    merged = params.copy()
    for key, value in changes.items():
        merged.pop(key, None)
        if value not in (None, ""):
            merged[key] = str(value)
    return urlencode([(k, v) for k, values in merged.lists() for v in values if v != ""])


@register.simple_tag
def query_without(params: QueryDict, *keys: str) -> str:
    """The query string `params` without `keys`: `{% query_without filter_params "thread" "member" %}`."""
    return urlencode([(k, v) for k, values in params.lists() if k not in keys for v in values if v != ""])


EXCERPT_CHARS = 480
EXCERPT_LINES = 8


@register.filter
def needs_excerpt(text: object) -> bool:
    """Whether a text is long enough (in characters or lines) to show an excerpt with "show more"."""
    value = str(text or "")
    return len(value) > EXCERPT_CHARS + 120 or value.count("\n") > EXCERPT_LINES + 2


@register.filter
def excerpt(text: object) -> str:
    """The first lines and characters of a text, ending in "…"; escaping is left to the template."""
    value = str(text or "")
    lines = value.split("\n")[:EXCERPT_LINES]
    short = "\n".join(lines)[:EXCERPT_CHARS].rstrip()
    return f"{short}…"
