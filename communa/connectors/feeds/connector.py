"""Feeds: RSS, Atom and JSON Feed, polled. Each entry becomes an article in its own thread.

The cursor remembers the server's validators (ETag, Last-Modified) for conditional requests, and for every
entry in the current document a digest and the time Communa first saw it: an unchanged entry is not
ingested again, and an entry without any date keeps the date it was first seen.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from pydantic import Field, SecretStr, field_validator, model_validator

from communa.connectors.base import (
    Capability,
    Connector,
    ConnectorConfig,
    FetchResult,
    MessageKind,
    NormalizedIdentity,
    NormalizedMessage,
    RawItem,
)
from communa.connectors.feeds.client import download
from communa.connectors.feeds.parsing import external_id, is_web_url, parse_feed
from communa.connectors.feeds.schemas import EntryPayload
from communa.core.html import html_to_text

PLATFORM_MAX = 120  # Identity.platform


class FeedsConfig(ConnectorConfig):
    url: str = Field(
        max_length=2000,
        title=gettext_noop("Feed URL"),
        description=gettext_noop("The address of the RSS, Atom or JSON feed (http or https)."),
    )
    username: str = Field(
        default="",
        max_length=200,
        title=gettext_noop("Username"),
        description=gettext_noop("Only for feeds behind HTTP basic authentication."),
    )
    password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("Password"),
        description=gettext_noop("The password that goes with the username, for HTTP basic authentication."),
    )

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not is_web_url(value):
            raise ValueError(gettext("enter an http:// or https:// address"))
        return value

    @model_validator(mode="after")
    def _password_needs_username(self) -> FeedsConfig:
        if self.password is not None and self.password.get_secret_value() and not self.username:
            raise ValueError(gettext("a password needs a username"))
        return self

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


class FeedsConnector(Connector):
    kind = "feeds"
    label = _("Feed (RSS, Atom, JSON Feed)")
    description = _("Follow a blog, a forum's latest topics or any site that publishes a feed.")
    capabilities = frozenset({Capability.POLL})
    Config = FeedsConfig
    docs_page = "connectors/feeds.md"

    config: FeedsConfig

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """Download the feed if it changed, and return the entries that are new or changed."""
        password = self.config.password.get_secret_value() if self.config.password else ""
        response = download(self.config.url, validators=cursor, username=self.config.username, password=password)
        if response is None:  # 304 Not Modified
            return FetchResult(items=[], cursor=cursor)
        now = datetime.now(UTC)
        feed = parse_feed(
            response.body, content_type=response.content_type, url=response.url, host=self.config.host, seen_at=now
        )
        known = _known_entries(cursor)
        items: list[RawItem] = []
        entries: dict[str, list[str]] = {}
        for entry in feed.entries:
            ext = external_id(entry)
            digest = _digest(entry)
            seen = known.get(ext)
            if seen is not None:
                entry = entry.model_copy(update={"first_seen_at": datetime.fromisoformat(seen[1])})
            entries[ext] = [digest, entry.first_seen_at.isoformat()]
            if seen is None or seen[0] != digest:
                items.append(RawItem(external_id=ext, payload=entry.model_dump(mode="json")))
        # Only the entries of the current document are remembered, so the cursor stays as small as the feed.
        return FetchResult(items=items, cursor={**response.validators, "entries": entries})

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        entry = EntryPayload.model_validate(item.payload)
        created_at = entry.published or entry.updated or entry.first_seen_at
        edited_at = entry.updated if entry.updated and entry.updated > created_at else None
        return [
            NormalizedMessage(
                external_id=item.external_id,
                kind=MessageKind.ARTICLE,
                title=_title(entry),
                text=_body_text(entry),
                created_at=created_at,
                edited_at=edited_at,
                author=_author(entry),
                url=entry.link if is_web_url(entry.link) else "",
                language=entry.language,
                metadata=_metadata(entry),
            )
        ]


def _known_entries(cursor: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Entries remembered by the previous poll; anything unreadable is forgotten rather than trusted."""
    known: dict[str, tuple[str, str]] = {}
    raw = cursor.get("entries")
    if not isinstance(raw, dict):
        return known
    for ext, value in raw.items():
        if isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value):
            try:
                datetime.fromisoformat(value[1])
            except ValueError:
                continue
            known[ext] = (value[0], value[1])
    return known


def _digest(entry: EntryPayload) -> str:
    canonical = json.dumps(entry.without_first_seen(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "replace")).hexdigest()[:32]


def _title(entry: EntryPayload) -> str:
    title = html_to_text(entry.title) if entry.title_is_html else entry.title
    return " ".join(title.split())  # a title is one line


def _body_text(entry: EntryPayload) -> str:
    if entry.body is None:
        return ""
    return html_to_text(entry.body.value) if entry.body.is_html else entry.body.value.strip()


def _author(entry: EntryPayload) -> NormalizedIdentity:
    """The entry's (or feed's) author; without one, the publication itself speaks."""
    platform = f"feed:{entry.feed.host}"[:PLATFORM_MAX]
    author = entry.author
    if author is not None:
        return NormalizedIdentity(
            platform=platform,
            external_id=(author.email.lower() or author.url or author.name)[:255],
            display_name=author.name,
            email=author.email if "@" in author.email else "",
            url=author.url if is_web_url(author.url) else "",
        )
    home = entry.feed.link if is_web_url(entry.feed.link) else ""
    return NormalizedIdentity(
        platform=platform,
        external_id=(home or entry.feed.host)[:255],
        display_name=entry.feed.title or entry.feed.host,
        url=home,
    )


def _metadata(entry: EntryPayload) -> dict[str, Any]:
    metadata: dict[str, Any] = {"feed": {"title": entry.feed.title, "format": entry.format}}
    if entry.tags:
        metadata["tags"] = entry.tags
    enclosures = [e.model_dump(mode="json") for e in entry.enclosures if is_web_url(e.url)]
    if enclosures:
        metadata["enclosures"] = enclosures
    if not (entry.published or entry.updated):
        metadata["date_from"] = "first_seen"  # the feed gave no date: say so rather than pretend
    return metadata
