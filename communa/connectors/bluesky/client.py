"""A small XRPC client for one Bluesky account on its PDS, over core.http.

Sessions. The account logs in with an app password (com.atproto.server.createSession) and gets a short-lived
access token and a long-lived refresh token. An expired access token is refreshed
(com.atproto.server.refreshSession); a refused refresh logs in again. Sessions are kept per worker process
(`SESSIONS`), so that each poll does not log in anew: Bluesky limits logins (30 per 5 minutes, 300 a day per
account on bsky.social).

AppView. Reads under app.bsky.* (notifications, posts, mutes) are answered by an AppView; the PDS forwards
them to the one it is configured with, or to the service named in the `atproto-proxy` header.

Errors. XRPC errors are JSON `{"error": Name, "message": ...}`:
- 429 (RateLimitExceeded) → TransientError with the wait from the `ratelimit-reset` header (a Unix time);
- a refused password, a suspended or taken-down account, a missing AppView, any other 4xx →
  `AtprotoError` (a PermanentError) naming what Communa was doing;
- 5xx and network failures are left to core.http: TransientError after its bounded retries.
"""

from __future__ import annotations

import hashlib
import threading
import time
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError

from communa.connectors.bluesky.schemas import ErrorBody, Session
from communa.core import http
from communa.core.http import ConnectorError, PermanentError, TransientError, retry_after_seconds

EXPIRED_TOKEN = "ExpiredToken"  # noqa: S105 — an XRPC error name, not a secret
INVALID_TOKEN = "InvalidToken"  # noqa: S105
RATE_LIMITED = "RateLimitExceeded"
RECORD_NOT_FOUND = "RecordNotFound"
AUTHENTICATION_REQUIRED = "AuthenticationRequired"
ACCOUNT_STATES = {
    "AccountTakedown": "the account was taken down by its PDS's moderators",
    "AccountDeactivated": "the account is deactivated",
    "AccountSuspended": "the account is suspended",
}
NO_APPVIEW_HINT = "No service configured"  # the PDS's message when app.bsky.* has nowhere to go
APPVIEW_SERVICE = "bsky_appview"


class AtprotoError(PermanentError):
    """A refusal from the PDS or AppView that retrying will not fix; `error` is the XRPC error name."""

    def __init__(self, message: str, *, error: str, status: int) -> None:
        super().__init__(message)
        self.error = error
        self.status = status

    def during(self, action: str) -> AtprotoError:
        return type(self)(f"{action}: {self}", error=self.error, status=self.status)


class ExpiredSession(AtprotoError):
    """The access token has expired: refresh it and try again (never reaches the connector's callers)."""


class NoAppView(AtprotoError):
    """The PDS cannot answer app.bsky.* calls: it has no AppView to forward them to."""


def error_for(response: httpx.Response) -> ConnectorError | None:
    """Classify a failed response by its XRPC error body; None where core.http's status rules suffice."""
    status = response.status_code
    if status < 400:
        return None
    body = _error_body(response)
    if status == 429 or body.error == RATE_LIMITED:
        return TransientError(
            f"rate limited by {response.request.url.host} ({RATE_LIMITED})", retry_after=_reset(response)
        )
    if status >= 500:
        return None
    detail = body.message or body.error or response.reason_phrase
    if body.error in (EXPIRED_TOKEN, INVALID_TOKEN) and status in (400, 401):
        return ExpiredSession(f"the session has expired ({body.error})", error=body.error, status=status)
    if body.error in ACCOUNT_STATES:
        return AtprotoError(f"{ACCOUNT_STATES[body.error]} ({body.error})", error=body.error, status=status)
    if NO_APPVIEW_HINT in body.message:
        return NoAppView(
            f"the PDS has no AppView to answer this ({detail}): turn off the AppView reading in the source's"
            " settings, or name an AppView",
            error=body.error,
            status=status,
        )
    return AtprotoError(f"{detail} ({body.error or f'HTTP {status}'})", error=body.error, status=status)


def _reset(response: httpx.Response) -> float | None:
    """Seconds until the rate limit resets: `ratelimit-reset` is a Unix time; `retry-after` also counts."""
    reset = response.headers.get("ratelimit-reset", "")
    if reset.isdigit():
        return max(0.0, int(reset) - time.time())
    return retry_after_seconds(response.headers)


def _error_body(response: httpx.Response) -> ErrorBody:
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ErrorBody()  # not XRPC's JSON (a proxy's error page): the status speaks alone


def check_response(response: httpx.Response) -> None:
    """httpx response hook: raise refusals and rate limits with their XRPC reason; 5xx go to core.http.

    Only 4xx bodies are read here: they are small, and they end the request.
    """
    status = response.status_code
    if status < 400 or status >= 500:
        return
    response.read()
    error = error_for(response)
    if error is not None:
        raise error


# --- sessions -----------------------------------------------------------------------------------------

# (service, identifier, password digest) → the latest session: one login per worker process and account.
SESSIONS: dict[tuple[str, str, str], Session] = {}
_SESSIONS_LOCK = threading.Lock()


def session_key(service: str, identifier: str, password: str) -> tuple[str, str, str]:
    """A changed app password must not reuse the old one's session: the key holds a digest of it."""
    return service, identifier.lower(), hashlib.sha256(password.encode()).hexdigest()


class BlueskyClient:
    """One account's connection to its PDS. Use as a context manager; `xrpc` makes one authenticated call."""

    def __init__(
        self,
        service: str,
        *,
        identifier: str,
        password: str,
        appview_proxy: str = "",
        timeout: float | None = None,
    ) -> None:
        self.base = service.rstrip("/") + "/xrpc/"
        self.identifier = identifier
        self._password = password
        self._key = session_key(service, identifier, password)
        self.appview_proxy = appview_proxy
        self.http = http.client(timeout=timeout)
        self.http.event_hooks["response"] = [check_response]

    def __enter__(self) -> BlueskyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.http.close()

    # --- calls ------------------------------------------------------------------------------------

    def xrpc(
        self,
        action: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        appview: bool = False,
        attempts: int = 3,
    ) -> dict[str, Any]:
        """Call `nsid` as the account (a procedure when `body` is given, else a query); return its JSON.

        `action` says what Communa was doing, for error messages. `appview` marks app.bsky.* calls that go
        to the AppView (through the PDS). An expired access token is refreshed once, then the call repeated.
        """
        session = self.session()
        try:
            return self._call(action, nsid, session, params=params, body=body, appview=appview, attempts=attempts)
        except ExpiredSession:
            session = self._renew(session)
            return self._call(action, nsid, session, params=params, body=body, appview=appview, attempts=attempts)

    def _call(
        self,
        action: str,
        nsid: str,
        session: Session | None,
        *,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        appview: bool = False,
        attempts: int = 3,
        token: str = "",
        procedure: bool = False,
    ) -> dict[str, Any]:
        headers = {}
        if token or session is not None:
            headers["Authorization"] = f"Bearer {token or (session.access_jwt if session else '')}"
        if appview and self.appview_proxy:
            headers["atproto-proxy"] = self.appview_proxy
        method = "POST" if procedure or body is not None else "GET"
        # A procedure without input (refreshSession) must be sent without a body: the PDS refuses one.
        try:
            if body is None:
                response = http.request(
                    self.http, method, self.base + nsid, attempts=attempts, params=params, headers=headers
                )
            else:
                response = http.request(
                    self.http, method, self.base + nsid, attempts=attempts, json=body, headers=headers
                )
        except ExpiredSession:
            raise
        except AtprotoError as exc:
            raise exc.during(action) from exc
        if not response.content:
            return {}  # procedures without output (deleteRecord, muteActor) answer with an empty body
        try:
            data = response.json()
        except ValueError as exc:
            raise PermanentError(f"{action}: {self.base} did not answer with JSON; is it a Bluesky PDS?") from exc
        if not isinstance(data, dict):
            raise PermanentError(f"{action}: unexpected answer from {self.base}{nsid}")
        return data

    # --- sessions ---------------------------------------------------------------------------------

    def session(self) -> Session:
        """The account's current session: the one this process already has, else a new login."""
        with _SESSIONS_LOCK:
            current = SESSIONS.get(self._key)
        return current or self.login()

    def login(self) -> Session:
        """com.atproto.server.createSession with the app password; a refusal is a PermanentError."""
        body = {"identifier": self.identifier, "password": self._password}
        try:
            data = self._call("log in", "com.atproto.server.createSession", None, params=None, body=body, attempts=2)
        except AtprotoError as exc:
            if exc.error not in ACCOUNT_STATES and (exc.error == AUTHENTICATION_REQUIRED or exc.status == 401):
                raise AtprotoError(
                    f"Bluesky did not accept the app password for {self.identifier} ({exc.error}): check the"
                    " handle, or create a new app password (Settings → Privacy and security → App passwords)"
                    " and update the source",
                    error=exc.error,
                    status=exc.status,
                ) from exc
            raise
        session = Session.model_validate(data)
        if not session.active:
            raise AtprotoError(
                f"the account {session.handle} is not active ({session.status or 'inactive'})",
                error=session.status,
                status=200,
            )
        return self._keep(session)

    def account(self) -> Session:
        """The session, checked with the PDS (com.atproto.server.getSession): still valid, account active.

        A taken-down or deactivated account is refused here with its reason, rather than as a puzzling
        "repo not found" from the next call; a handle changed since the login is picked up.
        """
        data = self.xrpc("could not check the account", "com.atproto.server.getSession")
        current = self.session()
        if data.get("active") is False:
            status = str(data.get("status") or "inactive")
            raise AtprotoError(f"the account {current.handle} is not active ({status})", error=status, status=200)
        handle = data.get("handle")
        if isinstance(handle, str) and handle and handle != current.handle:
            current = self._keep(current.model_copy(update={"handle": handle}))
        return current

    def _renew(self, expired: Session) -> Session:
        """Refresh an expired session; when the refresh token is refused too, log in again."""
        with _SESSIONS_LOCK:
            current = SESSIONS.get(self._key)
        if current is not None and current.access_jwt != expired.access_jwt:
            return current  # another thread of this process has renewed it already
        try:
            data = self._call(
                "refresh the session",
                "com.atproto.server.refreshSession",
                None,
                params=None,
                body=None,
                procedure=True,
                token=expired.refresh_jwt,
                attempts=2,
            )
        except AtprotoError:
            self.forget()
            return self.login()
        # refreshSession's answer has no `active` for older PDS versions: keep what the login said.
        return self._keep(Session.model_validate({**expired.model_dump(by_alias=True), **data}))

    def _keep(self, session: Session) -> Session:
        with _SESSIONS_LOCK:
            SESSIONS[self._key] = session
        return session

    def forget(self) -> None:
        with _SESSIONS_LOCK:
            SESSIONS.pop(self._key, None)
