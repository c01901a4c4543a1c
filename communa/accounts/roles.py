"""Roles and what each may do. The one place permissions are decided (see access.py)."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Community manager")
    MODERATOR = "moderator", _("Moderator")
    VOLUNTEER = "volunteer", _("Volunteer moderator")
    CONTRIBUTOR = "contributor", _("Contributor")
    ANALYST = "analyst", _("Analyst")


class Perm(StrEnum):
    """Capabilities checked by views, the API and services. Later issues add to this list."""

    VIEW_STREAM = "view_stream"
    VIEW_MEMBERS = "view_members"
    VIEW_ANALYTICS = "view_analytics"
    MANAGE_SOURCES = "manage_sources"
    MANAGE_TEAM = "manage_team"
    MANAGE_MEMBERS = "manage_members"  # merge and unmerge members, decide merge suggestions
    MANAGE_WORKSPACE = "manage_workspace"
    MODERATE = "moderate"
    MODERATE_HARSH = "moderate_harsh"  # ban, kick: not for volunteers
    REPLY = "reply"
    DRAFT = "draft"
    VIEW_AUDIT = "view_audit"
    MANAGE_RULES = "manage_rules"  # write, backtest and enable moderation rules
    REVIEW_APPEALS = "review_appeals"  # decide members' appeals against moderation decisions
    MANAGE_ANALYTICS = "manage_analytics"  # goals, report schedules and report share links


_ALL = frozenset(Perm)
_READ = frozenset({Perm.VIEW_STREAM, Perm.VIEW_MEMBERS, Perm.VIEW_ANALYTICS})

ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.OWNER: _ALL,
    Role.MANAGER: _ALL - {Perm.MANAGE_WORKSPACE},
    Role.MODERATOR: _READ | {Perm.MODERATE, Perm.MODERATE_HARSH, Perm.REPLY},
    # Volunteers see the stream and hide things; they do not see analytics, member lists or ban.
    Role.VOLUNTEER: frozenset({Perm.VIEW_STREAM, Perm.MODERATE}),
    Role.CONTRIBUTOR: frozenset({Perm.VIEW_STREAM, Perm.DRAFT}),
    Role.ANALYST: _READ,
}


def role_has(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMS.get(role, frozenset())
