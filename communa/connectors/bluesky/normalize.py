"""Bluesky payloads → normalized messages. Pure: no I/O; the payloads are those `fetch` stores (schemas.py).

| payload                                    | becomes                                                        |
| ------------------------------------------ | -------------------------------------------------------------- |
| an app.bsky.feed.post, top level           | a post                                                         |
| an app.bsky.feed.post with `reply`         | a comment; thread = reply.root, parent = reply.parent          |
| a like / repost notification               | a reaction (❤️ / 🔁) on the post liked or reposted               |
| anything else (a follow, a starter pack …) | nothing                                                        |

The text is the post's own, with links shortened for display put back in full; links, mentioned DIDs,
hashtags, embeds (images' alt text, link cards, quoted posts) and counts go into `metadata`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from communa.connectors.base import MessageKind, NormalizedIdentity, NormalizedMessage
from communa.connectors.bluesky.records import parse_at_uri, post_url, profile_url
from communa.connectors.bluesky.richtext import entities, expand_links
from communa.connectors.bluesky.schemas import (
    LIKE,
    POST,
    REPOST,
    Author,
    PostRecord,
    StoredItem,
    SubjectRecord,
)

PLATFORM = "bsky"
REACTIONS = {LIKE: ("like", "❤️"), REPOST: ("repost", "🔁")}
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?$")
_COUNTS = {"like_count": "likes", "repost_count": "reposts", "reply_count": "replies", "quote_count": "quotes"}


def normalize_item(payload: dict[str, Any], *, account_did: str) -> list[NormalizedMessage]:
    """Turn one stored payload into zero or one message."""
    item = StoredItem.model_validate(payload)
    kind = item.content.get("$type") or parse_at_uri(item.uri).collection
    if kind == POST:
        return [_post(item, account_did)]
    if kind in REACTIONS:
        return _reaction(item, kind)
    return []


def identity(author: Author) -> NormalizedIdentity:
    """A Bluesky account: the DID is what stays (a handle can change); the handle is what people see."""
    return NormalizedIdentity(
        platform=PLATFORM,
        external_id=author.did,
        handle=author.handle,
        display_name=author.display_name,
        url=profile_url(author.handle or author.did),
    )


def parse_datetime(value: str) -> datetime | None:
    """An AT Protocol datetime (RFC 3339, usually with Z); None when unreadable. No zone means UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _created_at(record_time: str, item: StoredItem) -> datetime:
    """The author's `createdAt`, else when the AppView saw it; a post with neither is unreadable."""
    moment = parse_datetime(record_time) or parse_datetime(item.indexed_at)
    if moment is None:
        raise ValueError(f"{item.uri} has no readable date (createdAt {record_time!r})")
    return moment


def _post(item: StoredItem, account_did: str) -> NormalizedMessage:
    record = PostRecord.model_validate(item.content)
    found = entities(record.facets, record.tags)
    metadata: dict[str, Any] = {"cid": item.cid, "via": item.via}
    if item.reason:
        metadata["reason"] = item.reason
    if item.author.did == account_did:
        metadata["own"] = True
    metadata.update(
        {
            key: list(value)
            for key, value in (("links", found.links), ("mentions", found.mentions), ("tags", found.tags))
            if value
        }
    )
    metadata.update(_embed(record.embed))
    metadata.update({name: getattr(item, field) for field, name in _COUNTS.items() if getattr(item, field) is not None})
    if record.langs:
        metadata["langs"] = record.langs
    return NormalizedMessage(
        external_id=item.uri,
        kind=MessageKind.COMMENT if record.reply else MessageKind.POST,
        text=expand_links(record.text, record.facets),
        created_at=_created_at(record.created_at, item),
        author=identity(item.author),
        thread_external_id=record.reply.root.uri if record.reply else "",
        parent_external_id=record.reply.parent.uri if record.reply else "",
        url=post_url(item.author.handle or item.author.did, parse_at_uri(item.uri).rkey),
        language=_language(record.langs),
        metadata=metadata,
    )


def _language(langs: list[str]) -> str:
    """The first declared language when it is a plain tag ("en", "pt-BR"); the rest stay in metadata."""
    return langs[0] if langs and _LANGUAGE.match(langs[0]) else ""


def _embed(embed: dict[str, Any] | None) -> dict[str, Any]:
    """What a post carries besides its text: images (their alt text), a link card, a quoted post."""
    if not isinstance(embed, dict):
        return {}
    kind = str(embed.get("$type", ""))
    found: dict[str, Any] = {}
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        found.update(_embed(embed.get("record")))
        found.update(_embed(embed.get("media")))
    elif kind.startswith("app.bsky.embed.images"):
        images = [image for image in embed.get("images") or [] if isinstance(image, dict)]
        found["images"] = [str(image.get("alt", "")) for image in images]
    elif kind.startswith("app.bsky.embed.video"):
        found["video"] = str(embed.get("alt", ""))
    elif kind.startswith("app.bsky.embed.external"):
        card = _mapping(embed.get("external"))
        found["link_card"] = {key: str(card.get(key, "")) for key in ("uri", "title", "description")}
    elif kind.startswith("app.bsky.embed.record"):
        quoted = _mapping(embed.get("record"))
        if isinstance(quoted.get("uri"), str):
            found["quotes_uri"] = quoted["uri"]
    return found


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _reaction(item: StoredItem, kind: str) -> list[NormalizedMessage]:
    record = SubjectRecord.model_validate(item.content)
    subject = record.subject.uri if record.subject else item.reason_subject
    if not subject:
        return []
    name, symbol = REACTIONS[kind]
    return [
        NormalizedMessage(
            external_id=item.uri,
            kind=MessageKind.REACTION,
            text=symbol,
            created_at=_created_at(record.created_at, item),
            author=identity(item.author),
            parent_external_id=subject,
            metadata={"cid": item.cid, "via": item.via, "reaction": name},
        )
    ]
