"""Shared fixtures: named personas in two workspaces, and a tiny in-memory connector for ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import add_member, create_workspace
from communa.connectors import registry
from communa.connectors.base import (
    Capability,
    Connector,
    ConnectorConfig,
    FetchResult,
    MessageKind,
    ModerationAction,
    ModerationTarget,
    NormalizedIdentity,
    NormalizedMessage,
    RawItem,
    ReplyTarget,
    SendResult,
)
from communa.connectors.models import Source
from communa.connectors.services import create_source

# Real servers the connector tests start themselves (session-scoped fixtures; see tests/servers/base.py).
pytest_plugins = [
    "tests.servers.synapse",
    "tests.servers.inspircd",
    "tests.servers.anope",
    "tests.servers.dovecot",
    "tests.servers.atproto",
]

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeConfig(ConnectorConfig):
    platform: str = "fake"


class FakeConnector(Connector):
    """Payloads are already almost messages: {"id", "author", "text", "at", "parent", "thread", "edited",
    "title", "url", "language"}."""

    kind = "fake"
    label = "Fake"
    capabilities = frozenset({Capability.POLL, Capability.REPLY, Capability.MODERATE})
    Config = FakeConfig
    moderation_actions = frozenset(ModerationAction)
    pages: list[FetchResult] = []
    # The write side: every call made to the "platform", and what the next calls should raise instead.
    writes: list[dict[str, Any]] = []
    fail_next: list[Exception] = []

    def _write(self, call: dict[str, Any]) -> SendResult:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.writes.append(call)
        return SendResult(external_id=f"sent-{len(self.writes)}", url="")

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        return self._write({"call": "reply", "target": target, "text": text, "key": idempotency_key})

    def moderate(
        self, *, action: ModerationAction, target: ModerationTarget, reason: str = "", idempotency_key: str
    ) -> SendResult:
        return self._write(
            {"call": "moderate", "action": action, "target": target, "reason": reason, "key": idempotency_key}
        )

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        return self.pages.pop(0)

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        p = item.payload
        if p.get("boom"):
            raise ValueError("unreadable payload")
        author = NormalizedIdentity(
            platform=self.config.platform, external_id=p["author"], display_name=p["author"].title()
        )  # type: ignore[attr-defined]
        return [
            NormalizedMessage(
                external_id=p["id"],
                kind=MessageKind(p.get("kind", "chat")),
                text=p.get("text", ""),
                created_at=datetime.fromisoformat(p["at"]),
                author=author,
                parent_external_id=p.get("parent", ""),
                thread_external_id=p.get("thread", ""),
                edited_at=datetime.fromisoformat(p["edited"]) if p.get("edited") else None,
                deleted=bool(p.get("deleted")),
                title=p.get("title", ""),
                url=p.get("url", ""),
                language=p.get("language", ""),
            )
        ]


def raw(ext: str, author: str = "ana", text: str = "hello", minutes: int = 0, **extra: Any) -> RawItem:
    payload = {"id": ext, "author": author, "text": text, "at": (T0 + timedelta(minutes=minutes)).isoformat(), **extra}
    return RawItem(external_id=ext, payload=payload)


@pytest.fixture
def fake_connector(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeConnector]]:
    monkeypatch.setitem(registry.CONNECTORS, "fake", "tests.conftest.FakeConnector")
    registry.connector_class.cache_clear()
    FakeConnector.pages = []
    FakeConnector.writes = []
    FakeConnector.fail_next = []
    yield FakeConnector
    registry.connector_class.cache_clear()


def make_user(username: str) -> User:
    return User.objects.create_user(username=username, email=f"{username}@example.org", password=PASSWORD)


@pytest.fixture
def owner(db: None) -> User:
    return make_user("olga")


@pytest.fixture
def workspace(owner: User) -> Workspace:
    return create_workspace(name="Acme Community", owner=owner, slug="acme")


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return create_workspace(name="Rival Community", owner=make_user("rita"), slug="rival")


@pytest.fixture
def manager(workspace: Workspace) -> User:
    user = make_user("marco")
    add_member(workspace=workspace, user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def volunteer(workspace: Workspace) -> User:
    user = make_user("vera")
    add_member(workspace=workspace, user=user, role=Role.VOLUNTEER)
    return user


@pytest.fixture
def analyst(workspace: Workspace) -> User:
    user = make_user("andrea")
    add_member(workspace=workspace, user=user, role=Role.ANALYST)
    return user


@pytest.fixture
def outsider(other_workspace: Workspace) -> User:
    """A manager of another workspace: must see nothing of `workspace`."""
    user = make_user("oscar")
    add_member(workspace=other_workspace, user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def fake_source(workspace: Workspace, fake_connector: type[FakeConnector]) -> Source:
    return create_source(workspace=workspace, kind="fake", name="Fake room", config=FakeConfig(), actor=None)


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts and ends in the default language.

    A request made with Accept-Language (or by a user with a saved language) activates that language for the
    thread, and Django leaves it active after the response; the next test in the same process would then read
    its messages in Russian.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Cached answers are keyed by ids, which repeat from one test to the next."""
    from django.core.cache import cache

    cache.clear()
