"""Webhook: any system that can send a signed JSON POST becomes a source (docs/connectors/webhook.md).

Every push is authenticated with an HMAC-SHA256 of "<timestamp>.<raw body>" under the source's secret, and
refused when the timestamp is more than five minutes away from Communa's clock, so a captured request cannot
be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext
from pydantic import Field, SecretStr, ValidationError, field_validator

from communa.connectors.base import (
    Capability,
    Connector,
    ConnectorConfig,
    NormalizedIdentity,
    NormalizedMessage,
    RawItem,
    WebhookRejected,
    WebhookRequest,
    describe_validation_error,
)
from communa.connectors.webhook.schemas import WebhookBatch, WebhookEvent

TIMESTAMP_HEADER = "x-communa-timestamp"
SIGNATURE_HEADER = "x-communa-signature"
MAX_CLOCK_SKEW = 300  # seconds, either way
MIN_SECRET_LENGTH = 16
_UNIX_SECONDS = re.compile(r"\d{1,12}", re.ASCII)
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)


def new_secret() -> str:
    """A fresh signing secret to offer when a person creates a webhook source."""
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Communa-Signature value for `body` sent at `timestamp` (what a sender computes too)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookConfig(ConnectorConfig):
    secret: SecretStr = Field(
        title=gettext_noop("Signing secret"),
        description=gettext_noop("Shared with the sender, who signs every request with it."),
    )
    platform: str = Field(
        default="webhook",
        min_length=1,
        max_length=120,
        title=gettext_noop("Platform"),
        description=gettext_noop(
            'Names the system that sends, e.g. "shop:example.com". Author ids are unique per platform.'
        ),
    )

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            message = ngettext(
                "the secret needs at least %(count)s character",
                "the secret needs at least %(count)s characters",
                MIN_SECRET_LENGTH,
            )
            raise ValueError(message % {"count": MIN_SECRET_LENGTH})
        return value


class WebhookConnector(Connector):
    kind = "webhook"
    label = _("Webhook (signed JSON)")
    description = _("Receive messages from any system that can send a signed HTTP POST.")
    capabilities = frozenset({Capability.WEBHOOK})
    Config = WebhookConfig
    docs_page = "connectors/webhook.md"

    config: WebhookConfig

    def parse_webhook(self, request: WebhookRequest) -> list[RawItem]:
        """Authenticate the push and split it into events; raise WebhookRejected(401 or 400) otherwise."""
        verify_signature(
            secret=self.config.secret.get_secret_value(), headers=request.headers, body=request.body, now=time.time()
        )
        return [
            RawItem(external_id=event.id, payload=event.model_dump(mode="json")) for event in parse_events(request.body)
        ]

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        event = WebhookEvent.model_validate(item.payload)
        return [
            NormalizedMessage(
                external_id=event.id,
                kind=event.kind,
                text=event.text,
                title=event.title,
                created_at=event.created_at,
                author=self._identity(event),
                thread_external_id=event.thread_id,
                parent_external_id=event.parent_id,
                url=event.url,
                language=event.language,
                metadata=event.metadata,
            )
        ]

    def _identity(self, event: WebhookEvent) -> NormalizedIdentity | None:
        author = event.author
        if author is None:
            return None
        return NormalizedIdentity(
            platform=self.config.platform,
            external_id=author.id,
            handle=author.handle,
            display_name=author.name,
            email=author.email,
            url=author.url,
            is_bot=author.is_bot,
        )


def verify_signature(*, secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise WebhookRejected(401) unless the headers carry a fresh, valid signature of `body`."""
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    signature = headers.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not signature:
        raise WebhookRejected(401, "missing X-Communa-Timestamp or X-Communa-Signature header")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise WebhookRejected(401, "X-Communa-Timestamp must be a unix time in seconds")
    scheme, _, digest = signature.partition("=")
    if scheme != "sha256" or not _HEX_DIGEST.fullmatch(digest.lower()):
        raise WebhookRejected(401, "X-Communa-Signature must be sha256=<64 hex digits>")
    expected = sign(secret, timestamp, body).partition("=")[2]
    if not hmac.compare_digest(expected, digest.lower()):
        raise WebhookRejected(401, "the signature does not match: wrong secret, or the body changed on the way")
    age = now - int(timestamp)
    if age > MAX_CLOCK_SKEW:
        raise WebhookRejected(401, "the timestamp is more than 5 minutes old (replay protection)")
    if age < -MAX_CLOCK_SKEW:
        raise WebhookRejected(401, "the timestamp is more than 5 minutes in the future: check the sender's clock")


def parse_events(body: bytes) -> list[WebhookEvent]:
    """One event object or {"events": [...]} → events; raise WebhookRejected(400) with the reason."""
    try:
        # Invalid UTF-8 inside a correctly signed body is replaced, like everywhere else in Communa.
        data: Any = json.loads(body.decode("utf-8", "replace").lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        reason = f"the body is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        raise WebhookRejected(400, reason) from exc
    except RecursionError as exc:
        raise WebhookRejected(400, "the body is not valid JSON (nested too deeply)") from exc
    if not isinstance(data, dict):
        raise WebhookRejected(400, 'the body must be a JSON object: one event, or {"events": [...]}')
    try:
        if "events" in data:
            return WebhookBatch.model_validate(data).events
        return [WebhookEvent.model_validate(data)]
    except ValidationError as exc:
        raise WebhookRejected(400, describe_validation_error(exc)) from exc
