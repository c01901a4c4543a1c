"""Shapes of feed data: JSON Feed documents as published, and the entry payload Communa stores.

RSS, Atom and JSON Feed entries are all reduced to one `EntryPayload` at fetch time, so `normalize` reads a
single shape whatever the format, and a stored payload stays readable if a parser library changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# --- JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) --------------------------------


class JsonFeedModel(BaseModel):
    # Publishers add extensions (keys starting with "_") and fields from newer versions: ignore them.
    # The spec asks readers to coerce ids given as numbers to strings.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class JsonFeedAuthor(JsonFeedModel):
    name: str = ""
    url: str = ""
    avatar: str = ""


class JsonFeedAttachment(JsonFeedModel):
    url: str
    mime_type: str = ""
    title: str = ""
    size_in_bytes: int | None = None


class JsonFeedItem(JsonFeedModel):
    id: str = ""
    url: str = ""
    external_url: str = ""
    title: str = ""
    content_html: str = ""
    content_text: str = ""
    summary: str = ""
    # Kept as text: a malformed date in one item should cost that item its date, not the whole feed.
    date_published: str = ""
    date_modified: str = ""
    author: JsonFeedAuthor | None = None  # 1.0
    authors: list[JsonFeedAuthor] = Field(default_factory=list)  # 1.1
    tags: list[str] = Field(default_factory=list)
    language: str = ""
    attachments: list[JsonFeedAttachment] = Field(default_factory=list)


class JsonFeed(JsonFeedModel):
    version: str
    title: str = ""
    home_page_url: str = ""
    feed_url: str = ""
    author: JsonFeedAuthor | None = None
    authors: list[JsonFeedAuthor] = Field(default_factory=list)
    language: str = ""
    # Validated one by one, so that a single odd item does not hide the others.
    items: list[Any]

    @field_validator("version")
    @classmethod
    def _is_json_feed(cls, value: str) -> str:
        if not value.startswith("https://jsonfeed.org/version/"):
            raise ValueError("not a JSON Feed version URL")
        return value


# --- The stored payload of one entry ------------------------------------------------------------


class StoredModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EntryAuthor(StoredModel):
    name: str = ""
    email: str = ""
    url: str = ""


class EntryBody(StoredModel):
    value: str
    is_html: bool = True


class Enclosure(StoredModel):
    url: str
    type: str = ""
    length: int | None = None


class FeedInfo(StoredModel):
    title: str = ""
    link: str = ""
    # Host of the configured feed URL: scopes author identities ("feed:<host>").
    host: str
    language: str = ""


class EntryPayload(StoredModel):
    format: str  # "rss20", "atom10", "json-feed-1.1", ... (feedparser's names for XML)
    feed: FeedInfo
    id: str = ""
    link: str = ""
    title: str = ""
    title_is_html: bool = False
    body: EntryBody | None = None
    published: AwareDatetime | None = None
    updated: AwareDatetime | None = None
    # When Communa first saw the entry: its date when the feed gives none.
    first_seen_at: AwareDatetime
    # The entry's author, else the feed's; None when neither says.
    author: EntryAuthor | None = None
    tags: list[str] = Field(default_factory=list)
    enclosures: list[Enclosure] = Field(default_factory=list)
    language: str = ""

    def without_first_seen(self) -> dict[str, Any]:
        """The payload minus Communa's own bookkeeping: equal dumps mean the publisher changed nothing."""
        return self.model_dump(mode="json", exclude={"first_seen_at"})
