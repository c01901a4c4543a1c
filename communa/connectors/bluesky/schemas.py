"""The parts of AT Protocol / Bluesky payloads the connector reads, as pydantic models.

Unknown keys are ignored (lexicons grow over time). A stored payload (`RawItem.payload`) is one post, like or
repost exactly as the API returned it, with one key added by `BlueskyConnector.fetch`, `"via"`, saying where
it came from:

- `"repo"`: a record of the account's own repository (com.atproto.repo.listRecords: `uri`, `cid`, `value`),
  with `author` (the account's DID and handle) added, since a repository listing does not repeat its owner;
- `"notification"`: an app.bsky.notification.listNotifications entry (`reason` mention, reply, quote, like,
  repost; `record`, `author`, `indexedAt`, `reasonSubject`);
- `"context"`: an app.bsky.feed.defs#postView from app.bsky.feed.getPosts, fetched because a post in the
  batch answers it (the parent or the root of a thread), with like/repost/reply/quote counts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
BLOCK = "app.bsky.graph.block"
MENTION_FEATURE = "app.bsky.richtext.facet#mention"
LINK_FEATURE = "app.bsky.richtext.facet#link"
TAG_FEATURE = "app.bsky.richtext.facet#tag"

VIA_REPO = "repo"
VIA_NOTIFICATION = "notification"
VIA_CONTEXT = "context"


class AtModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# --- records ----------------------------------------------------------------------------------------


class StrongRef(AtModel):
    """com.atproto.repo.strongRef: a record's address and the hash of the version meant."""

    uri: str
    cid: str


class ReplyRef(AtModel):
    root: StrongRef
    parent: StrongRef


class ByteSlice(AtModel):
    byte_start: int = Field(alias="byteStart", ge=0)
    byte_end: int = Field(alias="byteEnd", ge=0)


class Facet(AtModel):
    """app.bsky.richtext.facet: a byte range of the text with what it is (a mention, a link, a tag)."""

    index: ByteSlice
    features: list[dict[str, Any]] = Field(default_factory=list)


class PostRecord(AtModel):
    """app.bsky.feed.post as stored in a repository."""

    type: str = Field(default="", alias="$type")
    text: str = ""
    created_at: str = Field(default="", alias="createdAt")
    reply: ReplyRef | None = None
    facets: list[Facet] = Field(default_factory=list)
    embed: dict[str, Any] | None = None
    langs: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class SubjectRecord(AtModel):
    """app.bsky.feed.like and app.bsky.feed.repost: a strong reference to the post liked or reposted."""

    type: str = Field(default="", alias="$type")
    subject: StrongRef | None = None
    created_at: str = Field(default="", alias="createdAt")


# --- views ------------------------------------------------------------------------------------------


class Author(AtModel):
    """app.bsky.actor.defs#profileViewBasic (and the account itself, for its own repository's records)."""

    did: str
    handle: str = ""
    display_name: str = Field(default="", alias="displayName")


class StoredItem(AtModel):
    """What every stored payload has in common, whichever endpoint delivered it (see the module docstring)."""

    via: str
    uri: str
    cid: str = ""
    author: Author
    # A repository listing calls the record `value`; the views call it `record`.
    record: dict[str, Any] = Field(default_factory=dict)
    value: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    reason_subject: str = Field(default="", alias="reasonSubject")
    indexed_at: str = Field(default="", alias="indexedAt")
    like_count: int | None = Field(default=None, alias="likeCount")
    repost_count: int | None = Field(default=None, alias="repostCount")
    reply_count: int | None = Field(default=None, alias="replyCount")
    quote_count: int | None = Field(default=None, alias="quoteCount")

    @property
    def content(self) -> dict[str, Any]:
        return self.record or self.value


# --- responses --------------------------------------------------------------------------------------


class Session(AtModel):
    """com.atproto.server.createSession / refreshSession."""

    access_jwt: str = Field(alias="accessJwt")
    refresh_jwt: str = Field(alias="refreshJwt")
    did: str
    handle: str
    active: bool = True
    status: str = ""  # takendown, suspended, deactivated, when not active


class RecordEntry(AtModel):
    uri: str
    cid: str
    value: dict[str, Any] = Field(default_factory=dict)


class RecordPage(AtModel):
    """com.atproto.repo.listRecords: newest record key first; `cursor` absent on the last page."""

    records: list[RecordEntry] = Field(default_factory=list)
    cursor: str = ""


class NotificationPage(AtModel):
    """app.bsky.notification.listNotifications: newest first; entries kept as dicts to be stored verbatim."""

    notifications: list[dict[str, Any]] = Field(default_factory=list)
    cursor: str = ""


class PostsResponse(AtModel):
    posts: list[dict[str, Any]] = Field(default_factory=list)


class WriteResult(AtModel):
    """com.atproto.repo.createRecord / putRecord."""

    uri: str
    cid: str


class ErrorBody(AtModel):
    """An XRPC error: `error` is a name (ExpiredToken, RecordNotFound, …), `message` a sentence."""

    error: str = ""
    message: str = ""
