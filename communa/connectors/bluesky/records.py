"""AT Protocol addressing: at:// URIs, record keys (TIDs) derived from idempotency keys, bsky.app links."""

from __future__ import annotations

import dataclasses
import hashlib
import re

APP_URL = "https://bsky.app"
# at://<authority>/<collection>/<rkey>: the authority is a DID (or, in old links, a handle).
_AT_URI = re.compile(r"^at://(?P<repo>[^/\s]+)/(?P<collection>[a-zA-Z0-9.-]+)/(?P<rkey>[A-Za-z0-9._:~-]{1,512})$")
DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}$")
HANDLE = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)

# TIDs: 13 characters of "base32-sortable", a 64-bit number whose top bit is zero: 53 bits of microseconds
# since 1970, then a 10-bit clock id. Sorting the strings sorts the times.
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
# Record keys that Communa derives from idempotency keys carry a time inside 2023, the year Bluesky opened:
# always in the past, so they never sort ahead of the posts people write now (which would move the reading
# cursor past them), and plausible to every client.
_DERIVED_FROM_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z
_DERIVED_SPAN_US = 365 * 24 * 3600 * 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class AtUri:
    repo: str
    collection: str
    rkey: str

    def __str__(self) -> str:
        return f"at://{self.repo}/{self.collection}/{self.rkey}"


def parse_at_uri(uri: str) -> AtUri:
    """Split an at:// record URI; ValueError for anything else (a profile, a bare DID, a web link)."""
    match = _AT_URI.match(uri)
    if match is None:
        raise ValueError(f"not an at:// record URI: {uri!r}")
    return AtUri(match["repo"], match["collection"], match["rkey"])


def tid(microseconds: int, clock_id: int) -> str:
    """The TID for a time (µs since 1970) and a clock id (0-1023)."""
    if not 0 <= microseconds < 2**53 or not 0 <= clock_id < 1024:
        raise ValueError("a TID holds 53 bits of time and a 10-bit clock id")
    number = (microseconds << 10) | clock_id
    return "".join(_TID_ALPHABET[(number >> shift) & 31] for shift in range(60, -1, -5))


def record_key_for(idempotency_key: str, purpose: str) -> str:
    """A valid TID that is always the same for the same key and purpose (a reply, a post, a block).

    Bluesky requires TIDs as the record keys of posts and blocks. Writing with this key makes a retried write
    land on the same record instead of a second one.
    """
    digest = int.from_bytes(hashlib.sha256(f"{purpose}\x00{idempotency_key}".encode()).digest()[:8], "big")
    return tid(_DERIVED_FROM_US + (digest >> 10) % _DERIVED_SPAN_US, digest & 1023)


def post_url(author: str, rkey: str) -> str:
    """The bsky.app link of a post; `author` is the handle when known (readable), else the DID."""
    return f"{APP_URL}/profile/{author}/post/{rkey}"


def profile_url(author: str) -> str:
    return f"{APP_URL}/profile/{author}"
