"""Load the demo community into the database: team logins, the "Aurora Coffee" workspace, five sources and
their history, ingested through the one ingest path like any import."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import add_member, create_workspace
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.connectors.registry import connector_class
from communa.connectors.services import create_source, mark_success
from communa.demo.analytics import build_analytics
from communa.demo.generator import DEFAULT_DAYS, DEFAULT_SEED, generate
from communa.demo.inbox import build_inbox
from communa.demo.members import build_members
from communa.demo.moderation import build_moderation
from communa.demo.people import BRAND_DOMAIN
from communa.ingest.services import ingest_events
from communa.members.models import Member
from communa.stream.models import Message

WORKSPACE_SLUG = "aurora"
WORKSPACE_NAME = "Aurora Coffee"
WORKSPACE_LANGUAGES = ["en", "it", "es", "ru", "fr", "de", "pt"]
DEMO_USERNAME = "demo"
# Documented in README and printed by `communa demo`: a demo login is only useful if everyone knows it.
DEMO_PASSWORD = "communa-demo"  # noqa: S105


@dataclasses.dataclass(frozen=True, slots=True)
class TeamLogin:
    username: str
    first_name: str
    last_name: str
    role: str
    role_label: str


TEAM = (
    TeamLogin(DEMO_USERNAME, "Demo", "Owner", Role.OWNER, "owner"),
    TeamLogin("giulia", "Giulia", "Ferri", Role.MANAGER, "community manager"),
    TeamLogin("lena", "Lena", "Hoffmann", Role.VOLUNTEER, "volunteer moderator"),
    TeamLogin("priya", "Priya", "Nair", Role.ANALYST, "analyst"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSource:
    key: str  # the generator's name for it
    name: str
    platform: str  # the import connector's identity platform label


FORUM = DemoSource("forum", "Community forum", f"discourse:forum.{BRAND_DOMAIN}")
SOURCES = (
    FORUM,
    DemoSource("matrix", "Matrix #aurora-coffee", f"matrix:{BRAND_DOMAIN}"),
    DemoSource("email", "Support mailbox", "email"),
    DemoSource("irc", "IRC #aurora", "irc:libera.chat"),
    DemoSource("bsky", "Bluesky mentions", "bsky.social"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class DemoSummary:
    workspace: Workspace
    messages: int
    members: int
    sources: int


class DemoExists(Exception):
    """The demo workspace already has messages; rebuilding it needs an explicit reset."""


def demo_workspace() -> Workspace | None:
    return Workspace.objects.filter(slug=WORKSPACE_SLUG).first()


def summarize(workspace: Workspace) -> DemoSummary:
    return DemoSummary(
        workspace=workspace,
        messages=Message.objects.filter(workspace=workspace).count(),
        members=Member.objects.filter(workspace=workspace).count(),
        sources=Source.objects.filter(workspace=workspace).count(),
    )


def build_demo(
    *, seed: int = DEFAULT_SEED, days: int = DEFAULT_DAYS, now: datetime | None = None, reset: bool = False
) -> DemoSummary:
    """Create (or complete) the demo community. Refuses to touch one that has messages unless `reset`.

    `reset` deletes the whole demo workspace first; team logins are kept. The history is generated relative
    to `now`, so a fresh demo always ends today.
    """
    existing = demo_workspace()
    if existing is not None and Message.objects.filter(workspace=existing).exists():
        if not reset:
            raise DemoExists(f"The demo workspace {WORKSPACE_SLUG!r} already has messages.")
        existing.delete()
    users = ensure_team()
    workspace = ensure_workspace(users)
    community = generate(seed=seed, now=now or timezone.now(), days=days)
    for spec in SOURCES:
        source = ensure_source(workspace, spec, actor=users[DEMO_USERNAME])
        rows = community.rows.get(spec.key, [])
        ingest_events(source=source, events=[RawItem(external_id=row["id"], payload=row) for row in rows])
        mark_success(source_id=source.pk)
    # staff, scripted champions/bridge/at-risk members, merges and suggestions, engagement, key people
    build_members(workspace, trusted_email_platforms=(FORUM.platform,))
    build_moderation(workspace, users)  # rules (two versions, backtested), decisions, queue, strikes, appeals
    build_inbox(workspace, users)  # SLA, teams, rules, saved replies, conversations in every state (inbox)
    build_analytics(workspace, actor=users[DEMO_USERNAME])  # rollups, topics, goals, anomalies (analytics, last)
    return summarize(workspace)


def ensure_team() -> dict[str, User]:
    """The demo logins. Existing users are kept as they are (password included)."""
    password_hash = make_password(DEMO_PASSWORD)  # hashed once: hashing is slow by design
    users: dict[str, User] = {}
    for login in TEAM:
        users[login.username], _ = User.objects.get_or_create(
            username=login.username,
            defaults={
                "first_name": login.first_name,
                "last_name": login.last_name,
                "email": f"{login.username}@{BRAND_DOMAIN}",
                "password": password_hash,
            },
        )
    return users


@transaction.atomic
def ensure_workspace(users: dict[str, User]) -> Workspace:
    workspace = demo_workspace() or create_workspace(
        name=WORKSPACE_NAME, owner=users[DEMO_USERNAME], slug=WORKSPACE_SLUG, time_zone="Europe/Rome"
    )
    workspace.languages = WORKSPACE_LANGUAGES
    workspace.save(update_fields=["languages"])
    for login in TEAM:
        if not Membership.objects.filter(workspace=workspace, user=users[login.username]).exists():
            add_member(workspace=workspace, user=users[login.username], role=login.role)
    return workspace


def ensure_source(workspace: Workspace, spec: DemoSource, *, actor: User) -> Source:
    source = Source.objects.filter(workspace=workspace, kind="import", name=spec.name).first()
    if source is not None:
        return source
    config = connector_class("import").Config.model_validate({"platform": spec.platform})
    return create_source(workspace=workspace, kind="import", name=spec.name, config=config, actor=actor)
