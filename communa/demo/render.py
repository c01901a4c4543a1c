"""Turn the demo history into import rows: ids, links and metadata shaped like each platform's own.

Rows use exactly the import connector's NDJSON keys (docs/connectors/import.md): id, created_at (ISO 8601
with the author's UTC offset), author_id, author_name, author_handle, author_email, text, title, kind,
thread_id, parent_id, url, language, metadata.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any

from communa.demo.history import Post
from communa.demo.people import BRAND_DOMAIN, Role, ascii_handle

FORUM = f"https://forum.{BRAND_DOMAIN}"
MATRIX_ROOM = f"#aurora-coffee:{BRAND_DOMAIN}"
IRC_CHANNEL = "#aurora"
SORTABLE_BASE32 = "234567abcdefghijklmnopqrstuvwxyz"


def render_rows(posts: Sequence[Post], *, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Rows per source, oldest first, with ids assigned in time order as the platforms would."""
    by_source: dict[str, list[Post]] = {}
    for post in sorted(posts, key=lambda p: (p.at, p.seq)):
        by_source.setdefault(post.source, []).append(post)
    rows: dict[str, list[dict[str, Any]]] = {}
    for source, items in by_source.items():
        assign_ids(source, items, rng)
        rows[source] = [row(post, extras(source, post)) for post in items]
    return rows


def assign_ids(source: str, posts: Sequence[Post], rng: random.Random) -> None:
    forum_post, forum_topic = 48_210, 3_120  # where a forum some years old would be by now
    numbers: dict[int, int] = {}
    for index, post in enumerate(posts):
        if source == "forum":
            post.external_id, forum_post, forum_topic = forum_id(post, forum_post, forum_topic, numbers)
        elif source == "matrix":
            post.external_id = "$" + "".join(rng.choice(URLSAFE) for _ in range(43))
        elif source == "email":
            domain = post.author.accounts["email"].email.split("@")[1]
            post.external_id = f"<{rng.getrandbits(64):016x}.{rng.getrandbits(32):08x}@{domain}>"
        elif source == "irc":
            post.external_id = f"libera/{IRC_CHANNEL}/{int(post.at.timestamp())}/{index}"
        else:
            post.external_id = f"at://{post.author.accounts['bsky'].author_id}/app.bsky.feed.post/{tid(post, rng)}"


URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def forum_id(post: Post, last_post: int, last_topic: int, numbers: dict[int, int]) -> tuple[str, int, int]:
    """Discourse numbers posts globally, topics globally, and posts within a topic from 1; likes are not posts."""
    if post.kind == "reaction":
        assert post.parent is not None
        return f"like:{post.parent.external_id}:{post.author.accounts['forum'].author_id}", last_post, last_topic
    last_post += 1
    if post.root is None:
        last_topic += 1
        post.metadata.update(topic_id=last_topic, post_number=1)
        numbers[post.seq] = 1
    else:
        numbers[post.root.seq] += 1
        post.metadata.update(topic_id=post.root.metadata["topic_id"], post_number=numbers[post.root.seq])
    return str(last_post), last_post, last_topic


def tid(post: Post, rng: random.Random) -> str:
    """An AT Protocol record key: microseconds since the epoch and a clock id, in sortable base32."""
    value = (int(post.at.timestamp() * 1_000_000) << 10) | rng.getrandbits(10)
    chars = []
    for _ in range(13):
        chars.append(SORTABLE_BASE32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def slug(title: str) -> str:
    words = re.findall(r"\w+", title.lower())
    return "-".join(ascii_handle(w) for w in words if ascii_handle(w))[:60] or "topic"


def extras(source: str, post: Post) -> tuple[str, dict[str, Any]]:
    """(url, metadata) for a post, in the shape the platform's own export would carry."""
    team = {"staff": True} if post.author.role is Role.STAFF else {}
    if post.author.role is Role.MODERATOR:
        team = {"moderator": True}
    if source == "forum":
        return forum_extras(post, team)
    if source == "matrix":
        event = {"reaction": "m.reaction", "join": "m.room.member", "leave": "m.room.member"}.get(post.kind)
        power = {"power_level": 50 if team.get("moderator") else 100} if team else {}
        url = f"https://matrix.to/#/{MATRIX_ROOM}/{post.external_id}" if post.kind == "chat" else ""
        return url, {"room": MATRIX_ROOM, "event_type": event or "m.room.message", **power}
    if source == "email":
        to = post.parent.author.accounts["email"].email if post.parent else f"support@{BRAND_DOMAIN}"
        return "", {"to": [to], "mailbox": f"support@{BRAND_DOMAIN}"}
    if source == "irc":
        return "", {"channel": IRC_CHANNEL, "network": "libera.chat"}
    rkey = post.external_id.rsplit("/", 1)[1]
    return f"https://bsky.app/profile/{post.author.accounts['bsky'].handle}/post/{rkey}", {"uri": post.external_id}


def forum_extras(post: Post, team: dict[str, bool]) -> tuple[str, dict[str, Any]]:
    root = post.thread
    if post.kind == "reaction":
        return "", {"topic_id": root.metadata.get("topic_id"), "reaction": "heart"}
    metadata = {"category": root.metadata.get("category", ""), **post.metadata, **team}
    metadata.pop("topic_id", None)
    url = f"{FORUM}/t/{slug(root.title)}/{post.metadata['topic_id']}/{post.metadata['post_number']}"
    return url, {"topic_id": post.metadata["topic_id"], **metadata}


def row(post: Post, url_and_metadata: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    url, metadata = url_and_metadata
    account = post.author.accounts[post.source]
    local = post.at.astimezone(timezone(timedelta(hours=post.author.utc_offset)))
    return {
        "id": post.external_id,
        "created_at": local.isoformat(timespec="seconds"),
        "author_id": account.author_id,
        "author_name": account.name,
        "author_handle": account.handle,
        "author_email": account.email,
        "text": post.text,
        "title": post.title,
        "kind": post.kind,
        "thread_id": post.root.external_id if post.root else "",
        "parent_id": post.parent.external_id if post.parent else "",
        "url": url,
        "language": post.language,
        "metadata": metadata,
    }
