"""The Connector interface: the only thing a platform integration implements.

A connector is a small class in its own folder (connectors/<kind>/connector.py) listed in registry.py.
It reads (fetch for polling, parse_webhook for pushes, a listener for streams in later issues), turns raw
payloads into normalized messages (`normalize`, a pure function tested on captured payloads), and, where
the platform allows, writes (reply, publish, moderate) — each write is called by the outbox exactly once.

The write side is small on purpose: `reply` and `moderate`, each raising NotImplementedError unless the
connector overrides it. Callers check first: `Capability.REPLY in cls.capabilities` before `reply`, and
`cls.can_moderate(action)` (the MODERATE capability plus the action in `moderation_actions`) before
`moderate`. Every write takes the outbox row's idempotency key, which the connector passes to the
platform's own idempotency mechanism where there is one (Matrix transaction ids), so that a retried call
never acts twice; where there is none, the connector makes the action idempotent itself (read, then act
only if needed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from django.utils.functional import Promise
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError


class Capability(StrEnum):
    POLL = "poll"
    STREAM = "stream"
    WEBHOOK = "webhook"
    REPLY = "reply"
    PUBLISH = "publish"
    MODERATE = "moderate"


class MessageKind(StrEnum):
    POST = "post"
    COMMENT = "comment"
    CHAT = "chat"
    EMAIL = "email"
    REACTION = "reaction"
    JOIN = "join"
    LEAVE = "leave"
    ARTICLE = "article"
    OTHER = "other"


class ModerationAction(StrEnum):
    """What a moderator can do to a message or a member. Each connector lists what its platform supports."""

    REMOVE_MESSAGE = "remove_message"
    MUTE = "mute"  # the member stays but cannot post until unmuted
    UNMUTE = "unmute"
    KICK = "kick"  # out of the channel, free to come back
    BAN = "ban"  # out, and kept out until unbanned
    UNBAN = "unban"


class ConnectorConfig(BaseModel):
    """Base for every connector's settings. `SecretStr` fields are encrypted at rest automatically."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def secret_field_names(cls) -> frozenset[str]:
        return frozenset(
            name for name, field in cls.model_fields.items() if field.annotation in (SecretStr, SecretStr | None)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RawItem:
    """One platform payload, stored verbatim before anything else happens. Unique per source."""

    external_id: str
    payload: dict[str, Any]


@dataclasses.dataclass(slots=True)
class FetchResult:
    items: list[RawItem]
    cursor: dict[str, Any]  # saved only after `items` are committed, so a crash replays, never skips


@dataclasses.dataclass(frozen=True, slots=True)
class NormalizedIdentity:
    """A person's handle on one platform. `platform` scopes `external_id` (e.g. "matrix:example.org")."""

    platform: str
    external_id: str
    handle: str = ""
    display_name: str = ""
    email: str = ""
    url: str = ""
    is_bot: bool = False


@dataclasses.dataclass(slots=True)
class NormalizedMessage:
    external_id: str
    kind: MessageKind
    text: str
    created_at: datetime
    author: NormalizedIdentity | None = None
    # The thread root's external id; empty means this message starts its own thread.
    thread_external_id: str = ""
    parent_external_id: str = ""
    title: str = ""
    url: str = ""
    language: str = ""
    edited_at: datetime | None = None
    deleted: bool = False
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a webhook connector sees of an HTTP request: no Django objects, so it stays testable."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names


@dataclasses.dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The message a reply answers, in the platform's terms (external ids as stored on Message rows)."""

    channel: str  # where it was posted: a Matrix room id, an IRC channel, a mailbox
    message_external_id: str
    thread_external_id: str = ""  # the thread root, when the message is inside a thread
    # Platforms that address people rather than places (email) also need who to answer, the subject, and the
    # conversation so far (oldest first); a connector may look them up itself when they are left empty.
    recipient: str = ""
    subject: str = ""
    references: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ModerationTarget:
    """Who or what a moderation action applies to: a member (mute … unban) or a message (remove)."""

    channel: str
    user_external_id: str = ""
    message_external_id: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform answered to a write: the id of what it created, empty when it creates nothing."""

    external_id: str = ""
    url: str = ""


class WebhookRejected(Exception):
    """The push is refused; `status` and `reason` go back to the sender and into a RejectedEvent."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def describe_validation_error(exc: ValidationError, *, limit: int = 3, whole: str = "body") -> str:
    """pydantic's errors as "field.path: message; ..." for a person: a sender, an import summary, a source."""
    errors = exc.errors()
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or whole}: {error['msg'].removeprefix('Value error, ')}"
        for error in errors[:limit]
    ]
    more = len(errors) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Connector:
    kind: ClassVar[str]
    label: ClassVar[str | Promise]
    description: ClassVar[str | Promise] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    docs_page: ClassVar[str] = ""
    moderation_actions: ClassVar[frozenset[ModerationAction]] = frozenset()
    # How the outbox settles a write whose outcome is unknown (a timeout after the request left):
    # True when asking again with the same idempotency key cannot create a second copy, because the
    # platform deduplicates (Matrix transaction ids) or reply() looks for the first copy before writing
    # (Bluesky record keys, email Message-ID in the mailbox). False: a person decides.
    idempotent_writes: ClassVar[bool] = False
    # Seconds to wait before that second ask, for platforms where a write takes time to show (mail delivery).
    reconcile_after: ClassVar[float] = 5.0

    def __init__(self, config: ConnectorConfig, *, source_key: str = "") -> None:
        self.config = config
        # A stable per-source string (the webhook token) for connectors that scope identities per source.
        self.source_key = source_key

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """Poll once from `cursor`. Raise core.http.TransientError / PermanentError on failure."""
        raise NotImplementedError(f"{self.kind} does not poll")

    def parse_webhook(self, request: WebhookRequest) -> list[RawItem]:
        """Authenticate and split an inbound push into raw items, or raise WebhookRejected."""
        raise NotImplementedError(f"{self.kind} does not accept webhooks")

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        """Turn one stored payload into messages. Pure: no I/O, no database, deterministic."""
        raise NotImplementedError

    @classmethod
    def can_moderate(cls, action: ModerationAction) -> bool:
        return Capability.MODERATE in cls.capabilities and action in cls.moderation_actions

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        """Post `text` as a reply to `target`; the same `idempotency_key` never posts twice.

        Raise core.http.TransientError / PermanentError on failure. Only for connectors with Capability.REPLY.
        """
        raise NotImplementedError(f"{self.kind} cannot reply")

    def moderate(
        self, *, action: ModerationAction, target: ModerationTarget, reason: str = "", idempotency_key: str
    ) -> SendResult:
        """Apply `action` to `target`; repeating it (same key, or an action already in effect) is harmless.

        Raise core.http.TransientError / PermanentError on failure. Only where `can_moderate(action)`.
        """
        raise NotImplementedError(f"{self.kind} cannot {action.value.replace('_', ' ')}")
