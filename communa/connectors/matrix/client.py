"""The Matrix client-server API, the few calls Communa needs, over core.http.

core.http gives every call its timeout and bounded retries. Matrix says more than the HTTP status about
what went wrong, in a JSON body (`errcode`, `error`, `retry_after_ms`), so a response hook reads it first:

- `M_LIMIT_EXCEEDED`: with a Retry-After header (Synapse sends one), core.http's retry waits as long as
  the homeserver asks and, past its patience, raises TransientError(retry_after=...); without one, the
  hook raises TransientError(retry_after=retry_after_ms / 1000) itself;
- any other 4xx raises `MatrixError` (a PermanentError) carrying the errcode, with a message that says what
  Communa was doing: a revoked token (`M_UNKNOWN_TOKEN`) or a refusal (`M_FORBIDDEN`) needs a person;
- 5xx and network failures are left to core.http: TransientError after its retries.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from communa.connectors.matrix.schemas import MatrixErrorBody, MessagesPage, SyncResponse
from communa.core import http
from communa.core.http import ConnectorError, PermanentError, TransientError

API = "/_matrix/client/v3"
# A long-poll /sync holds the request open for its timeout: the read timeout must outlast it.
SYNC_READ_MARGIN = 30.0

UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"  # noqa: S105 — a Matrix error code, not a secret
MISSING_TOKEN = "M_MISSING_TOKEN"  # noqa: S105
FORBIDDEN = "M_FORBIDDEN"
NOT_FOUND = "M_NOT_FOUND"
LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"


class MatrixError(PermanentError):
    """A refusal from the homeserver that retrying will not fix; `errcode` is Matrix's (M_FORBIDDEN, ...)."""

    def __init__(self, message: str, *, errcode: str, status: int) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.status = status

    def during(self, action: str) -> MatrixError:
        """The same error, its message prefixed with what Communa was trying to do."""
        return MatrixError(f"{action}: {self}", errcode=self.errcode, status=self.status)


def error_for(response: httpx.Response) -> ConnectorError | None:
    """Classify a failed response by its Matrix error body; None where core.http's status rules suffice."""
    status = response.status_code
    if status < 400:
        return None
    body = _error_body(response)
    if status == 429 or body.errcode == LIMIT_EXCEEDED:
        seconds = body.retry_after_ms / 1000 if body.retry_after_ms is not None else None
        return TransientError(f"rate limited by the homeserver ({LIMIT_EXCEEDED})", retry_after=seconds)
    if status >= 500:
        return None
    if body.errcode in (UNKNOWN_TOKEN, MISSING_TOKEN):
        return MatrixError(
            f"the homeserver does not accept the access token ({body.errcode}): it was revoked, has expired or"
            " was mistyped; create a new one and update the source",
            errcode=body.errcode,
            status=status,
        )
    detail = body.error or response.reason_phrase
    return MatrixError(f"{detail} ({body.errcode or f'HTTP {status}'})", errcode=body.errcode, status=status)


def _error_body(response: httpx.Response) -> MatrixErrorBody:
    try:
        return MatrixErrorBody.model_validate_json(response.content)
    except ValidationError:
        return MatrixErrorBody()  # not Matrix's JSON (a proxy's error page): the status speaks alone


def check_response(response: httpx.Response) -> None:
    """httpx response hook: raise refusals with Matrix's reason; leave the rest to core.http.

    Server errors and rate limits that carry a Retry-After header go back to core.http untouched (its
    bounded retry waits as asked). Only the bodies of other 4xx answers are read here: those are small, and
    they end the request.
    """
    status = response.status_code
    if status < 400 or status >= 500 or (status == 429 and "retry-after" in response.headers):
        return
    response.read()
    error = error_for(response)
    if error is not None:
        raise error


def q(value: str) -> str:
    """Quote an id for a URL path segment: room ids, event ids and aliases hold !, $, #, : and /."""
    return quote(value, safe="")


class MatrixClient:
    """One session with a homeserver. Use as a context manager; every method is one API call."""

    def __init__(self, homeserver: str, *, access_token: str = "", timeout: float | None = None) -> None:
        self.base = homeserver.rstrip("/") + API
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self.http = http.client(timeout=timeout, headers=headers)
        self.http.event_hooks["response"] = [check_response]

    def __enter__(self) -> MatrixClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.http.close()

    def call(self, action: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request; return its JSON object. `action` names the step in error messages."""
        try:
            response = http.request(self.http, method, self.base + path, **kwargs)
        except MatrixError as exc:
            raise exc.during(action) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise PermanentError(f"{action}: {self.base} did not answer with JSON; is it a Matrix homeserver?") from exc
        if not isinstance(body, dict):
            raise PermanentError(f"{action}: unexpected answer from {self.base}")
        return body

    # --- session ---------------------------------------------------------------------------------------

    def login(self, *, user_id: str, password: str, device_id: str) -> str:
        """Log in with a password; return a new access token for `device_id` (created on first use)."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "device_id": device_id,
            "initial_device_display_name": "Communa",
        }
        return str(self.call(f"could not log in as {user_id}", "POST", "/login", json=body)["access_token"])

    def whoami(self) -> str:
        return str(self.call("could not check the access token", "GET", "/account/whoami")["user_id"])

    # --- rooms -----------------------------------------------------------------------------------------

    def joined_rooms(self) -> set[str]:
        return set(self.call("could not list the joined rooms", "GET", "/joined_rooms")["joined_rooms"])

    def resolve_alias(self, alias: str) -> str:
        return str(self.call(f"could not find the room {alias}", "GET", f"/directory/room/{q(alias)}")["room_id"])

    def join(self, room: str) -> str:
        """Join a room by id or alias (accepting an invite if there is one); return its id."""
        action = f"could not join {room} (invite the bot, or make the room public)"
        return str(self.call(action, "POST", f"/join/{q(room)}", json={})["room_id"])

    # --- reading ---------------------------------------------------------------------------------------

    def sync(self, *, since: str | None, filter_json: str, timeout_ms: int) -> SyncResponse:
        params: dict[str, str | int] = {"filter": filter_json, "timeout": timeout_ms, "set_presence": "offline"}
        if since:
            params["since"] = since
        wait = httpx.Timeout(timeout_ms / 1000 + SYNC_READ_MARGIN, connect=10.0)
        body = self.call("could not sync", "GET", "/sync", params=params, timeout=wait)
        return SyncResponse.model_validate(body)

    def messages(self, room_id: str, *, start: str, stop: str, filter_json: str, limit: int) -> MessagesPage:
        """One page of a room's history, newest first, from `start` back to `stop`."""
        params = {"from": start, "to": stop, "dir": "b", "limit": limit, "filter": filter_json}
        body = self.call(
            f"could not read the history of {room_id}", "GET", f"/rooms/{q(room_id)}/messages", params=params
        )
        return MessagesPage.model_validate(body)

    def event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        """One event as the bot may see it; None when it does not exist or is hidden from the bot."""
        try:
            return self.call(f"could not read {event_id}", "GET", f"/rooms/{q(room_id)}/event/{q(event_id)}")
        except MatrixError as exc:
            if exc.errcode in (NOT_FOUND, FORBIDDEN):
                return None
            raise

    def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """The content of one state event; None when the room has none."""
        path = f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
        try:
            return self.call(f"could not read {event_type} in {room_id}", "GET", path)
        except MatrixError as exc:
            if exc.errcode == NOT_FOUND:
                return None
            raise

    # --- writing ---------------------------------------------------------------------------------------

    def send(self, room_id: str, *, event_type: str, txn_id: str, content: dict[str, Any]) -> str:
        """Send an event; the homeserver answers a repeated `txn_id` with the first event, not a new one."""
        path = f"/rooms/{q(room_id)}/send/{q(event_type)}/{q(txn_id)}"
        return str(self.call(f"could not post in {room_id}", "PUT", path, json=content)["event_id"])

    def redact(self, room_id: str, event_id: str, *, txn_id: str, reason: str) -> str:
        path = f"/rooms/{q(room_id)}/redact/{q(event_id)}/{q(txn_id)}"
        body = {"reason": reason} if reason else {}
        return str(self.call(f"could not remove {event_id} in {room_id}", "PUT", path, json=body)["event_id"])

    def membership(self, room_id: str, action: str, *, user_id: str, reason: str) -> None:
        """kick, ban or unban `user_id`."""
        body = {"user_id": user_id, **({"reason": reason} if reason else {})}
        self.call(f"could not {action} {user_id} in {room_id}", "POST", f"/rooms/{q(room_id)}/{action}", json=body)

    def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
        path = f"/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
        return str(self.call(f"could not change {event_type} in {room_id}", "PUT", path, json=content)["event_id"])
