"""The bytes a feed URL returned → entry payloads, for RSS 0.9x–2.0, Atom 0.3/1.0 and JSON Feed 1.0/1.1.

XML feeds are read by feedparser (lenient with the broken feeds found in the wild, and it already strips
scripts and resolves relative links); feedparser does not read JSON Feed, which is validated here with
pydantic. Anything that is not a feed raises TransientError with a reason a person can act on: the source
shows "retrying" with it and keeps its cursor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax import SAXParseException

import feedparser
from pydantic import ValidationError

from communa.connectors.base import describe_validation_error
from communa.connectors.feeds.schemas import (
    Enclosure,
    EntryAuthor,
    EntryBody,
    EntryPayload,
    FeedInfo,
    JsonFeed,
    JsonFeedAuthor,
    JsonFeedItem,
)
from communa.core.http import TransientError

logger = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 255
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
FEED_LINK_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
_UTF8_BOM = b"\xef\xbb\xbf"
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedFeed:
    format: str
    entries: list[EntryPayload]


def parse_feed(body: bytes, *, content_type: str, url: str, host: str, seen_at: datetime) -> ParsedFeed:
    """Read a feed document. `url` is where it was fetched (the base for relative links)."""
    head = body.lstrip(_UTF8_BOM + b" \t\r\n")[:1024].lower()
    if not head:
        raise TransientError("the URL returned an empty response, not a feed")
    if head.startswith((b"{", b"[")):
        return _parse_json_feed(body, url=url, host=host, seen_at=seen_at)
    if head.startswith((b"<!doctype html", b"<html")):
        raise TransientError(_html_page_reason(body, url))
    return _parse_xml_feed(body, content_type=content_type, url=url, host=host, seen_at=seen_at)


def external_id(entry: EntryPayload) -> str:
    """The publisher's id, else the entry's link, else a hash of its title and date."""
    candidate = entry.id.strip() or entry.link.strip()
    if not candidate:
        date = entry.published or entry.updated
        candidate = "sha256:" + _sha256(f"{entry.title}\n{date.isoformat() if date else ''}")
    if len(candidate) > MAX_EXTERNAL_ID:
        candidate = "sha256:" + _sha256(candidate)
    return candidate


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


# --- XML: RSS and Atom ----------------------------------------------------------------------------


def _parse_xml_feed(body: bytes, *, content_type: str, url: str, host: str, seen_at: datetime) -> ParsedFeed:
    # A file-like object, never raw bytes: feedparser tries to open() a bytes argument as a local path.
    parsed = feedparser.parse(
        io.BytesIO(_repair_utf8(body, content_type)),
        response_headers={"content-location": url, "content-type": content_type or "application/xml"},
    )
    if not parsed.get("version"):
        if b"<html" in body[:4096].lower():
            raise TransientError(_html_page_reason(body, url))
        if parsed.get("bozo"):
            raise TransientError(f"the feed is not well-formed XML ({_describe_xml_error(parsed)})")
        raise TransientError("the URL returned a document that is not an RSS, Atom or JSON feed")
    channel = parsed.get("feed") or {}
    info = FeedInfo(
        title=_text(channel.get("title")),
        link=_text(channel.get("link")),
        host=host,
        language=_text(channel.get("language")),
    )
    feed_author = _xml_author(channel.get("author_detail"))
    entries = [_xml_entry(entry, parsed["version"], info, feed_author, seen_at) for entry in parsed.get("entries", [])]
    # A truncated document leaves shells behind (nothing but the element); they are not entries.
    kept = [entry for entry in entries if entry.id or entry.link or entry.title or entry.body]
    if parsed.get("bozo") and not kept and entries:
        raise TransientError(f"the feed is not well-formed XML ({_describe_xml_error(parsed)})")
    if parsed.get("bozo"):
        logger.info("feed %s parsed with recoverable errors: %s", url, parsed.get("bozo_exception"))
    return ParsedFeed(format=parsed["version"], entries=kept)


def _xml_entry(
    entry: Mapping[str, Any], fmt: str, info: FeedInfo, feed_author: EntryAuthor | None, seen_at: datetime
) -> EntryPayload:
    title_detail = entry.get("title_detail") or {}
    return EntryPayload(
        format=fmt,
        feed=info,
        id=_text(entry.get("id")),
        link=_text(entry.get("link")),
        title=_text(entry.get("title")),
        title_is_html=title_detail.get("type") in HTML_TYPES,
        body=_xml_body(entry),
        published=_struct_time(entry.get("published_parsed")),
        updated=_struct_time(entry.get("updated_parsed")),
        first_seen_at=seen_at,
        author=_xml_author(entry.get("author_detail")) or feed_author,
        tags=[_text(tag.get("term")) for tag in entry.get("tags") or [] if tag.get("term")],
        enclosures=[
            Enclosure(url=_text(e.get("href")), type=_text(e.get("type")), length=_int(e.get("length")))
            for e in entry.get("enclosures") or []
            if e.get("href")
        ],
        language=_text(title_detail.get("language")) or info.language,
    )


def _xml_body(entry: Mapping[str, Any]) -> EntryBody | None:
    """The full content when the feed has it, else the summary."""
    for content in [*(entry.get("content") or []), entry.get("summary_detail") or {}]:
        value = _text(content.get("value"))
        if value.strip():
            return EntryBody(value=value, is_html=content.get("type", "text/html") in HTML_TYPES)
    return None


def _xml_author(detail: Mapping[str, Any] | None) -> EntryAuthor | None:
    if not detail:
        return None
    author = EntryAuthor(
        name=_text(detail.get("name")), email=_text(detail.get("email")), url=_text(detail.get("href"))
    )
    return author if (author.name or author.email or author.url) else None


def _struct_time(value: time.struct_time | None) -> datetime | None:
    """feedparser gives dates as UTC struct_time; impossible dates (year 0) count as missing."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _describe_xml_error(parsed: Mapping[str, Any]) -> str:
    exc = parsed.get("bozo_exception")
    if isinstance(exc, SAXParseException):
        return f"line {exc.getLineNumber()}: {exc.getMessage()}"
    return str(exc)


def _repair_utf8(body: bytes, content_type: str) -> bytes:
    """Replace invalid UTF-8 in a feed that is (or claims to be) UTF-8, instead of letting feedparser fall
    back to a legacy encoding that would garble every valid accented letter of the document."""
    declared = _CHARSET.search(content_type or "")
    in_document = _XML_ENCODING.match(body.lstrip(_UTF8_BOM))
    for match in (declared, in_document):
        if match is None:
            continue
        name = match.group(1)
        name = name.decode("ascii") if isinstance(name, bytes) else name
        if name.lower().replace("_", "-") not in {"utf-8", "utf8"}:
            return body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("utf-8", "replace").encode("utf-8")
    return body


# --- JSON Feed ------------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, *, url: str, host: str, seen_at: datetime) -> ParsedFeed:
    # JSON Feed is UTF-8 by definition; bytes that are not are replaced, never a crash.
    text = body.decode("utf-8", "replace").lstrip("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TransientError(f"the feed is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise TransientError("the feed is not valid JSON (nested too deeply)") from exc
    if not isinstance(data, dict) or "version" not in data or "items" not in data:
        raise TransientError("the URL returned JSON, but not a JSON Feed (no version and items)")
    try:
        feed = JsonFeed.model_validate(data)
    except ValidationError as exc:
        raise TransientError(
            f"the JSON Feed is malformed ({describe_validation_error(exc, limit=1, whole='document')})"
        ) from exc
    fmt = "json-feed-" + feed.version.rsplit("/", 1)[-1]
    info = FeedInfo(title=feed.title, link=_absolute(feed.home_page_url, url), host=host, language=feed.language)
    feed_author = _json_author([*feed.authors, *([feed.author] if feed.author else [])])
    entries = []
    for index, raw in enumerate(feed.items):
        try:
            item = JsonFeedItem.model_validate(raw)
        except ValidationError as exc:
            logger.warning(
                "feed %s: item %d skipped: %s", url, index, describe_validation_error(exc, limit=1, whole="document")
            )
            continue
        entries.append(_json_entry(item, fmt, info, feed_author, url, seen_at))
    return ParsedFeed(format=fmt, entries=entries)


def _json_entry(
    item: JsonFeedItem, fmt: str, info: FeedInfo, feed_author: EntryAuthor | None, url: str, seen_at: datetime
) -> EntryPayload:
    body = None
    if item.content_html.strip():
        body = EntryBody(value=item.content_html, is_html=True)
    elif item.content_text.strip() or item.summary.strip():
        body = EntryBody(value=item.content_text or item.summary, is_html=False)
    return EntryPayload(
        format=fmt,
        feed=info,
        id=item.id,
        link=_absolute(item.url or item.external_url, url),
        title=item.title,
        body=body,
        published=_iso_date(item.date_published),
        updated=_iso_date(item.date_modified),
        first_seen_at=seen_at,
        author=_json_author([*item.authors, *([item.author] if item.author else [])]) or feed_author,
        tags=[tag for tag in item.tags if tag],
        enclosures=[
            Enclosure(url=_absolute(a.url, url), type=a.mime_type, length=a.size_in_bytes) for a in item.attachments
        ],
        language=item.language or info.language,
    )


def _json_author(authors: list[JsonFeedAuthor]) -> EntryAuthor | None:
    """The first author: Communa credits one person per message."""
    for author in authors:
        if author.name or author.url:
            return EntryAuthor(name=author.name, url=author.url)
    return None


def _iso_date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # RFC 3339 requires an offset; a publisher that forgot one most likely meant UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- HTML pages -----------------------------------------------------------------------------------


class _FeedLinkFinder(HTMLParser):
    """Collects <link rel="alternate" type="application/rss+xml" href="..."> from an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {name: (value or "") for name, value in attrs}
        rel = values.get("rel", "").lower().split()
        if "alternate" in rel and values.get("type", "").lower() in FEED_LINK_TYPES and values.get("href"):
            self.hrefs.append(values["href"])


def _html_page_reason(body: bytes, url: str) -> str:
    """Say that this is a web page, and point at the feed the page advertises when it has one."""
    reason = "the URL returned an HTML page, not a feed"
    finder = _FeedLinkFinder()
    try:
        finder.feed(body[:262_144].decode("utf-8", "replace"))
    except (AssertionError, ValueError):  # html.parser gives up on some hostile markup
        return reason
    if finder.hrefs:
        reason += f"; the page points to a feed at {_absolute(finder.hrefs[0], url)}"
    return reason


# --- small conversions ----------------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: object) -> int | None:
    text = _text(value).strip()
    return int(text) if text.isdigit() else None


def _absolute(link: str, base: str) -> str:
    if not link.strip():
        return ""
    try:
        return urljoin(base, link.strip())
    except ValueError:  # e.g. a malformed IPv6 host: keep it as written, is_web_url decides later
        return link.strip()


def is_web_url(value: str) -> bool:
    """Only http(s) links are kept: a feed must not put javascript: or file: links in front of people."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
