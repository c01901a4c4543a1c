"""Rich text both ways: facets of a post read → plain text plus metadata; text to post → facets.

Bluesky keeps a post's text plain and describes links, mentions and hashtags in `facets`: byte ranges of the
UTF-8 text with what they point at. Clients show a link's text (often shortened, "example.com/long…") while
the facet holds the full address, and a mention only notifies the person named if a facet carries their DID.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

from communa.connectors.bluesky.records import HANDLE
from communa.connectors.bluesky.schemas import LINK_FEATURE, MENTION_FEATURE, TAG_FEATURE, Facet


@dataclasses.dataclass(frozen=True, slots=True)
class Entities:
    """What a post's facets point at, in text order, without duplicates."""

    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()  # DIDs
    tags: tuple[str, ...] = ()


def entities(facets: Iterable[Facet], extra_tags: Iterable[str] = ()) -> Entities:
    """Collect links, mentioned DIDs and hashtags from a post's facets (unknown features are ignored)."""
    links: list[str] = []
    mentions: list[str] = []
    tags: list[str] = list(extra_tags)
    for facet in sorted(facets, key=lambda f: f.index.byte_start):
        for feature in facet.features:
            kind = feature.get("$type")
            if kind == LINK_FEATURE and isinstance(feature.get("uri"), str):
                links.append(feature["uri"])
            elif kind == MENTION_FEATURE and isinstance(feature.get("did"), str):
                mentions.append(feature["did"])
            elif kind == TAG_FEATURE and isinstance(feature.get("tag"), str):
                tags.append(feature["tag"])
    return Entities(tuple(dict.fromkeys(links)), tuple(dict.fromkeys(mentions)), tuple(dict.fromkeys(tags)))


def expand_links(text: str, facets: Iterable[Facet]) -> str:
    """The text with each shortened link text replaced by the full address its facet holds.

    Only when the facet's text is a visibly shortened form of the address (ends with "…" or "...", or is
    the address without its scheme): a link on ordinary words ("our docs") keeps its words.
    """
    data = text.encode("utf-8")
    pieces: list[bytes] = []
    position = 0
    for facet in sorted(facets, key=lambda f: f.index.byte_start):
        start, end = facet.index.byte_start, facet.index.byte_end
        uri = next((f["uri"] for f in facet.features if f.get("$type") == LINK_FEATURE and "uri" in f), None)
        if not isinstance(uri, str) or start < position or end > len(data) or start >= end:
            continue
        shown = data[start:end].decode("utf-8", errors="replace")
        if _is_shortened(shown, uri):
            pieces += [data[position:start], uri.encode("utf-8")]
            position = end
    pieces.append(data[position:])
    return b"".join(pieces).decode("utf-8", errors="replace")


def _is_shortened(shown: str, uri: str) -> bool:
    bare = re.sub(r"^https?://", "", uri)
    stem = shown.removesuffix("…").removesuffix("...")
    return shown != uri and (stem != shown or shown == bare) and bool(stem) and bare.startswith(stem)


# --- writing ------------------------------------------------------------------------------------------

# A web address as people type it: with a scheme, or a bare domain with a known-looking ending and a path.
_URL = re.compile(r"(?<![\w@/.])(https?://[^\s<>\"']+|(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"']*)", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@([a-zA-Z0-9.-]+\.[a-zA-Z0-9-]+)")
_TAG = re.compile(r"(?<![\w#&])#(?!\d+\b)(\w{1,64})")
_TRAILING = ".,;:!?)]}'\""


def detect_facets(text: str, resolve_handle: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Facets for the links, @mentions and #hashtags in `text`, as Bluesky's own app would make them.

    `resolve_handle` turns a handle into a DID, or None when nobody has it: such a mention stays plain text.
    """
    facets: list[dict[str, Any]] = []
    for match in _URL.finditer(text):
        address = match.group(1).rstrip(_TRAILING)
        uri = address if re.match(r"https?://", address, re.IGNORECASE) else f"https://{address}"
        facets.append(_facet(text, match.start(1), match.start(1) + len(address), LINK_FEATURE, uri=uri))
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(_TRAILING)
        if not HANDLE.match(handle):
            continue
        did = resolve_handle(handle.lower())
        if did:
            facets.append(_facet(text, match.start(), match.start(1) + len(handle), MENTION_FEATURE, did=did))
    for match in _TAG.finditer(text):
        facets.append(_facet(text, match.start(), match.end(), TAG_FEATURE, tag=match.group(1)))
    return _without_overlaps(facets)


def _facet(text: str, start: int, end: int, kind: str, **feature: str) -> dict[str, Any]:
    byte_start = len(text[:start].encode("utf-8"))
    byte_end = byte_start + len(text[start:end].encode("utf-8"))
    return {"index": {"byteStart": byte_start, "byteEnd": byte_end}, "features": [{"$type": kind, **feature}]}


def _without_overlaps(facets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the first of overlapping facets (a link's "#anchor" is not also a hashtag)."""
    kept: list[dict[str, Any]] = []
    end = -1
    for facet in sorted(facets, key=lambda f: (f["index"]["byteStart"], -f["index"]["byteEnd"])):
        if facet["index"]["byteStart"] >= end:
            kept.append(facet)
            end = facet["index"]["byteEnd"]
    return kept
