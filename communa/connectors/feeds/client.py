"""Downloading a feed: conditional GET through core.http, so unchanged feeds cost a 304 and no parsing."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from communa.core import http

ACCEPT = (
    "application/feed+json, application/atom+xml, application/rss+xml, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclasses.dataclass(frozen=True, slots=True)
class FeedResponse:
    body: bytes
    content_type: str
    url: str  # after redirects: the base for relative links
    validators: dict[str, str]  # what to send next time: {"etag": ..., "last_modified": ...}


def download(url: str, *, validators: dict[str, Any], username: str = "", password: str = "") -> FeedResponse | None:
    """GET the feed; None when the server says it has not changed since `validators` (HTTP 304)."""
    headers = {"Accept": ACCEPT}
    if isinstance(validators.get("etag"), str):
        headers["If-None-Match"] = validators["etag"]
    if isinstance(validators.get("last_modified"), str):
        headers["If-Modified-Since"] = validators["last_modified"]
    auth = httpx.BasicAuth(username, password) if username else None
    with http.client(guarded=True) as session:
        try:
            response = http.request(session, "GET", url, headers=headers, auth=auth)
        except httpx.TooManyRedirects as exc:
            raise http.PermanentError(f"too many redirects from {url}") from exc
        except httpx.DecodingError as exc:
            raise http.TransientError(f"could not decode the response from {url}: {exc}") from exc
    if response.status_code == 304:
        return None
    return FeedResponse(
        body=response.content,
        content_type=response.headers.get("content-type", ""),
        url=str(response.url),
        validators=_validators(response.headers),
    )


def _validators(headers: httpx.Headers) -> dict[str, str]:
    found = {"etag": headers.get("etag", ""), "last_modified": headers.get("last-modified", "")}
    return {name: value for name, value in found.items() if value}
