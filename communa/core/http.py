"""The one HTTP client every connector uses: a timeout on every call, bounded retries, typed failures.

Failures map onto two exception types so that callers decide the same way everywhere:
`TransientError` (retry later with backoff; the source shows "retrying") and `PermanentError` (the source
is disabled with the reason: bad credentials, gone, forbidden).
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import certifi
import httpx
from django.conf import settings

from communa import __version__
from communa.core import netguard

USER_AGENT = f"Communa/{__version__} (+https://communa.example/bot)"
MAX_BODY_BYTES = 20 * 1024 * 1024  # a platform answer larger than this is refused, not read into memory
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 422})


class ConnectorError(Exception):
    """Base class for failures talking to a platform."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """Worth retrying later: network trouble, rate limits, 5xx."""


class NotSentError(TransientError):
    """Certainly not received by the platform (connection refused, DNS failure, rate limited before
    processing): a write that failed this way can be sent again without risk of a duplicate."""


class PermanentError(ConnectorError):
    """Will not fix itself: the source is disabled until a person changes it."""


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one (loading the CA bundle) costs 20-50 ms per client."""
    return ssl.create_default_context(cafile=certifi.where())


def client(
    *, timeout: float | None = None, headers: Mapping[str, str] | None = None, guarded: bool = False
) -> httpx.Client:
    """`guarded`: for URLs a workspace's people typed (feeds), connect only to public addresses or the
    operator's COMMUNA_OUTBOUND_ALLOWED_NETWORKS (core/netguard.py), on every redirect hop too."""
    return httpx.Client(
        transport=netguard.GuardedTransport(verify=_tls_context()) if guarded else None,
        verify=_tls_context(),
        timeout=httpx.Timeout(timeout or settings.COMMUNA_HTTP_TIMEOUT, connect=10.0),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=True,
        max_redirects=5,
    )


def request(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    max_sleep: float = 10.0,
    max_bytes: int = MAX_BODY_BYTES,
    **kwargs: object,
) -> httpx.Response:
    """Send with bounded retries on transient failures; raise Transient/PermanentError otherwise.

    Returns responses with status < 400 and 304. Sleeps at most `max_sleep` per retry so a worker is never
    parked for long; a longer Retry-After is surfaced to the caller instead.
    """
    last: ConnectorError | None = None
    for attempt in range(attempts):
        try:
            response = _send(http, method, url, max_bytes=max_bytes, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = NotSentError(f"could not reach {url}: {exc}")
        except httpx.TimeoutException as exc:
            last = TransientError(f"timed out after {http.timeout.read}s talking to {url}")
            last.__cause__ = exc
        except httpx.TooManyRedirects as exc:
            raise PermanentError(f"{url} redirects too many times (more than {http.max_redirects})") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            last = TransientError(f"could not reach {url}: {exc}")
        else:
            if response.status_code < 400:
                return response
            last = _error_for(response)
            if isinstance(last, PermanentError):
                raise last
        wait = last.retry_after if last.retry_after is not None else backoff * (2**attempt)
        if attempt + 1 == attempts or wait > max_sleep:
            break
        time.sleep(wait)
    assert last is not None
    raise last


def _send(http: httpx.Client, method: str, url: str, *, max_bytes: int, **kwargs: object) -> httpx.Response:
    """Send and read the body, stopping at `max_bytes` so a huge or endless answer cannot exhaust memory."""
    send_options = {key: kwargs.pop(key) for key in ("auth", "follow_redirects") if key in kwargs}
    request = http.build_request(method, url, **kwargs)  # type: ignore[arg-type]
    try:
        response = http.send(request, stream=True, **send_options)  # type: ignore[arg-type]
    except netguard.BlockedDestinationError as exc:  # a guarded client refused the address (or a redirect's)
        raise PermanentError(str(exc)) from exc
    try:
        declared = int(response.headers.get("content-length") or 0)
        if declared > max_bytes:
            raise PermanentError(f"{url} answered {declared:,} bytes; the limit is {max_bytes:,}")
        body = bytearray()
        for chunk in response.iter_bytes():  # decoded: a compressed bomb is stopped at the limit too
            body += chunk
            if len(body) > max_bytes:
                raise PermanentError(f"{url} answered more than {max_bytes:,} bytes; the limit is {max_bytes:,}")
    finally:
        response.close()
    # A normal, fully read response for the callers; the body is already decoded, so its encoding goes.
    headers = httpx.Headers(response.headers)
    for name in ("content-encoding", "content-length", "transfer-encoding"):
        headers.pop(name, None)
    return httpx.Response(
        status_code=response.status_code,
        headers=headers,
        content=bytes(body),
        request=request,
        history=response.history,
    )


def _error_for(response: httpx.Response) -> ConnectorError:
    status = response.status_code
    reason = f"HTTP {status} {response.reason_phrase} from {response.request.url}"
    if status in PERMANENT_STATUSES:
        return PermanentError(reason)
    if status == 429:  # refused before processing: nothing was done
        return NotSentError(reason, retry_after=retry_after_seconds(response.headers))
    return TransientError(reason, retry_after=retry_after_seconds(response.headers))
