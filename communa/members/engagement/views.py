"""Pages of engagement: key people, the profile's timeline pages, and what the profile adds about a member.

Thin, like members/views.py: resolve the workspace (404 outsiders, 403 roles), a selector, a template.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from communa.accounts.access import access_workspace, membership_for
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm, role_has
from communa.core.pagination import InvalidCursor, Page
from communa.members.engagement import selectors
from communa.members.engagement.facts import FREE_MAIL, email_domain
from communa.members.engagement.models import KeyPerson, Level, Lifecycle
from communa.members.models import Member
from communa.stream.models import Message

TIMELINE_PAGE = 25
SHOWN_PER_CATEGORY = 10  # of the snapshot's 20: the page stays short; the API has them all
# Panels other apps render about a member, loaded by HTMX when the app provides them: URL name, key, and the
# permissions of which the viewer needs one (an analyst sees the profile but works no conversations).
PANELS = (
    ("inbox:member_panel", "conversations", (Perm.REPLY, Perm.MODERATE)),
    ("moderation:member_panel", "moderation", (Perm.MODERATE,)),
)


def _panel_urls(request: HttpRequest, workspace: Workspace, member: Member) -> dict[str, str]:
    """The panels whose URL names resolve and that the viewer may open: an app not installed yet simply has
    no panel, and a panel the viewer's role may not see is not offered."""
    membership = membership_for(request.user, workspace.slug)
    urls = {}
    for name, key, perms in PANELS:
        if not any(role_has(membership.role, perm) for perm in perms):
            continue
        try:
            urls[key] = reverse(name, args=[workspace.slug, member.pk])
        except NoReverseMatch:
            continue
    return urls


def _timeline(workspace: Workspace, member: Member, cursor: str | None) -> Page[Message]:
    try:
        return selectors.timeline_page(workspace=workspace, member=member, cursor=cursor, limit=TIMELINE_PAGE)
    except InvalidCursor:
        return selectors.timeline_page(workspace=workspace, member=member, cursor=None, limit=TIMELINE_PAGE)


def profile_context(request: HttpRequest, workspace: Workspace, member: Member) -> dict[str, Any]:
    """What the profile page shows besides members' own: engagement and its explanation, facts, the first
    timeline page, the panels of other apps, and the message count as it is now."""
    facts = selectors.facts_of(workspace=workspace, member=member)
    domains = sorted(
        {d for d in (email_domain(e) for e in selectors.identity_emails(workspace=workspace, member=member)) if d}
    )
    return {
        "engagement": selectors.engagement_of(workspace=workspace, member=member),
        "facts": facts,
        "utc_offset": _offset_label(facts.utc_offset) if facts and facts.utc_offset is not None else "",
        "free_mail_only": bool(domains) and all(d in FREE_MAIL for d in domains),
        "message_total": selectors.message_total(workspace=workspace, member=member),
        "timeline_page": _timeline(workspace, member, None),
        "panels": _panel_urls(request, workspace, member),
    }


def _offset_label(offset: int) -> str:
    return f"UTC{offset:+d}" if offset else "UTC"


@login_required
@require_GET
def timeline(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    """The next page of a member's timeline (an HTMX fragment; a whole page without HTMX)."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_MEMBERS)
    member = Member.objects.filter(workspace=ws, pk=member_id, merged_into__isnull=True).first()
    if member is None:
        raise Http404
    page = _timeline(ws, member, request.GET.get("cursor"))
    context = {"workspace": ws, "member": member, "timeline_page": page}
    template = "members/partials/timeline.html" if request.headers.get("HX-Request") else "members/timeline.html"
    return render(request, template, context)


@login_required
@require_GET
def key_people(request: HttpRequest, workspace: str) -> HttpResponse:
    """Champions, most influential, rising members and bridges, from the latest snapshot."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_MEMBERS)
    snapshot = selectors.key_people(workspace=ws)
    sections = [
        (category, KeyPerson.Category(category).label, _describe(snapshot.categories[category][:SHOWN_PER_CATEGORY]))
        for category in (
            KeyPerson.Category.CHAMPION,
            KeyPerson.Category.INFLUENCER,
            KeyPerson.Category.RISING,
            KeyPerson.Category.BRIDGE,
        )
    ]
    levels = selectors.level_counts(workspace=ws)
    states = selectors.lifecycle_counts(workspace=ws)
    return render(
        request,
        "members/key_people.html",
        {
            "workspace": ws,
            "run": snapshot.run,
            "sections": sections,
            "levels": [(Level(code).label, code, n) for code, n in levels.items()],
            "states": [(Lifecycle(code).label, code, n) for code, n in states.items()],
        },
    )


def _describe(people: list[KeyPerson]) -> list[dict[str, Any]]:
    return [{"person": p, "reasons": [selectors.describe_reason(r) for r in p.reasons]} for p in people]
