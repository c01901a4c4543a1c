"""Matrix: read rooms through a bot account with /sync, reply in threads, moderate.

Reading. `fetch` joins the configured rooms the bot is not in yet, then makes one /sync from the cursor
(`{"since": next_batch}`), long-polling up to `sync_timeout_seconds` when nothing is new, with a filter that
asks only for the configured rooms' timelines (messages, reactions, redactions, membership) and the member
events of their senders (lazy loading). The first sync, without a cursor, brings recent history (a bounded
timeline per room). When a later sync says a room's timeline was cut short (`limited`: more happened than
one response holds, e.g. after an outage), the gap is filled from /messages back to the previous cursor,
so nothing in between is skipped. The worker's listener calls `fetch` in a loop for STREAM sources; a
scheduler may call it as a poll as well.

Writing. Replies go into the thread of the message answered, with a plain reply as the fallback for clients
without threads; the transaction id is derived from the outbox's idempotency key, so a retried send is
answered with the first event instead of posting twice. Moderation redacts, kicks, bans, unbans, and
mutes/unmutes through the room's power levels.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from pydantic import Field, SecretStr, field_validator, model_validator

from communa.connectors.base import (
    Capability,
    Connector,
    ConnectorConfig,
    FetchResult,
    ModerationAction,
    ModerationTarget,
    NormalizedMessage,
    RawItem,
    ReplyTarget,
    SendResult,
)
from communa.connectors.matrix import moderation, sessions
from communa.connectors.matrix.client import MISSING_TOKEN, UNKNOWN_TOKEN, MatrixClient, MatrixError
from communa.connectors.matrix.normalize import (
    ENCRYPTION,
    MEMBER,
    MESSAGE,
    READ_TYPES,
    normalize_event,
    permalink,
)
from communa.connectors.matrix.schemas import REPLACE, THREAD, SyncResponse, SyncRoom
from communa.core.http import PermanentError

logger = logging.getLogger(__name__)

USER_ID = re.compile(r"^@[^:\s]+:\S+$")
ROOM_ID = re.compile(r"^![^:\s]+(:\S+)?$")  # room versions 12+ have no server part
ROOM_ALIAS = re.compile(r"^#[^:\s]+:\S+$")


class MatrixConfig(ConnectorConfig):
    homeserver: str = Field(
        max_length=500,
        title=gettext_noop("Homeserver address"),
        description=gettext_noop("The homeserver's address, as in the bot's client settings."),
        examples=["https://matrix.example.org"],
    )
    user_id: str = Field(
        max_length=255,
        title=gettext_noop("Bot's Matrix ID"),
        description=gettext_noop("The bot account's Matrix ID."),
        examples=["@communa:example.org"],
    )
    access_token: SecretStr | None = Field(
        default=None,
        title=gettext_noop("Bot access token"),
        description=gettext_noop("The bot's access token (recommended)."),
    )
    password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("Bot password"),
        description=gettext_noop("Instead of a token: the bot's password, used to log in."),
    )
    rooms: list[str] = Field(
        min_length=1,
        max_length=200,
        title=gettext_noop("Rooms to follow"),
        description=gettext_noop("Room IDs (!…) or aliases (#name:server), one per line. The bot joins them."),
        examples=["#community:example.org"],
    )
    # At most 60 s: a listener renews its lease (COMMUNA_LISTENER_LEASE_SECONDS, 90 s) between syncs, so a
    # longer wait could let the lease expire mid-poll and another worker take the room over.
    sync_timeout_seconds: int = Field(
        default=25,
        ge=0,
        le=60,
        title=gettext_noop("Wait for new messages (seconds)"),
        description=gettext_noop("How long one sync waits on the server for something new."),
    )

    @field_validator("homeserver")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(gettext("enter an http:// or https:// address"))
        return value.rstrip("/")

    @field_validator("user_id")
    @classmethod
    def _matrix_id(cls, value: str) -> str:
        if not USER_ID.match(value):
            raise ValueError(gettext("a Matrix ID looks like @name:example.org"))
        return value

    @field_validator("rooms")
    @classmethod
    def _room_references(cls, value: list[str]) -> list[str]:
        rooms = list(dict.fromkeys(room.strip() for room in value if room.strip()))
        wrong = [room for room in rooms if not (ROOM_ID.match(room) or ROOM_ALIAS.match(room))]
        if wrong:
            raise ValueError(
                gettext("not a room ID (!…) or alias (#name:server): %(rooms)s") % {"rooms": ", ".join(wrong)}
            )
        if not rooms:
            raise ValueError(gettext("list at least one room"))
        return rooms

    @model_validator(mode="after")
    def _credentials(self) -> MatrixConfig:
        if not _secret(self.access_token) and not _secret(self.password):
            raise ValueError(gettext("give the bot's access token or its password"))
        return self


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class MatrixConnector(Connector):
    kind = "matrix"
    label = _("Matrix rooms")
    description = _("Follow Matrix rooms through a bot account; reply in threads, remove messages, mute, kick, ban.")
    capabilities = frozenset({Capability.POLL, Capability.STREAM, Capability.REPLY, Capability.MODERATE})
    moderation_actions = frozenset(ModerationAction)
    idempotent_writes = True  # the homeserver answers a repeated transaction id with the first event
    Config = MatrixConfig
    docs_page = "connectors/matrix.md"

    config: MatrixConfig

    # Events per room: the first sync's history, then each sync; a cut-short timeline is completed from
    # /messages, at most `backfill_pages` pages of `timeline_limit` (older events beyond are not recovered).
    initial_history = 50
    timeline_limit = 100
    backfill_pages = 10

    def __init__(self, config: ConnectorConfig, *, source_key: str = "") -> None:
        super().__init__(config, source_key=source_key)
        self._room_ids: dict[str, str] = {}  # configured id or alias → room id

    # --- reading ---------------------------------------------------------------------------------------

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """Join the configured rooms if needed, sync once from `cursor`, return the rooms' new events."""
        since = cursor.get("since") if isinstance(cursor.get("since"), str) else None
        with self._session() as session:
            api = session.client
            room_ids = self._join_rooms(session)
            limit = self.timeline_limit if since else self.initial_history
            sync = api.sync(
                since=since,
                filter_json=sync_filter(room_ids, timeline_limit=limit),
                timeout_ms=self.config.sync_timeout_seconds * 1000 if since else 0,
            )
            # A room in the `leave` section (the bot left, or was kicked or banned) is joined again next time.
            session.left(set(sync.rooms.leave))
            events = [event for room_id in room_ids for event in self._room_events(api, sync, room_id, since)]
            self._attach_originals(api, events)
        items = [RawItem(external_id=event["event_id"], payload=event) for event in events]
        return FetchResult(items=items, cursor={"since": sync.next_batch})

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        return normalize_event(item.payload, bot_user_id=self.config.user_id)

    def _join_rooms(self, session: sessions.Session) -> list[str]:
        """The configured rooms' ids, joining those the bot is not in (by alias when configured so)."""
        api = session.client
        joined = session.joined_rooms()
        room_ids = []
        for room in self.config.rooms:
            room_id = self._room_ids.get(room) or (room if room.startswith("!") else api.resolve_alias(room))
            if room_id not in joined:
                room_id = api.join(room)
                joined.add(room_id)
            self._room_ids[room] = room_id
            room_ids.append(room_id)
        return list(dict.fromkeys(room_ids))

    def _room_events(
        self, api: MatrixClient, sync: SyncResponse, room_id: str, since: str | None
    ) -> list[dict[str, Any]]:
        room = sync.rooms.join.get(room_id) or sync.rooms.leave.get(room_id)
        if room is None:
            return []
        state, timeline = list(room.state.events), list(room.timeline.events)
        if since and room.timeline.limited and room.timeline.prev_batch:
            earlier_state, earlier = self._backfill(api, room_id, room, since)
            state, timeline = earlier_state + state, earlier + timeline
        refuse_encrypted(room_id, [*state, *timeline])
        return annotate(room_id, state=state, timeline=timeline)

    def _backfill(
        self, api: MatrixClient, room_id: str, room: SyncRoom, since: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The events between the previous cursor and a cut-short timeline, oldest first."""
        state: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        start = room.timeline.prev_batch
        for _page in range(self.backfill_pages):
            page = api.messages(
                room_id,
                start=start,
                stop=since,
                filter_json=event_filter(self.timeline_limit),
                limit=self.timeline_limit,
            )
            state.extend(page.state)
            events.extend(page.chunk)
            if not page.end or not page.chunk:
                return state, events[::-1]
            start = page.end
        logger.warning("matrix: more than %d events missed in %s; older ones are skipped", len(events), room_id)
        return state, events[::-1]

    def _attach_originals(self, api: MatrixClient, events: list[dict[str, Any]]) -> None:
        """Give each edit the event it replaces (from this batch, else from the server): see schemas.py."""
        by_id = {event["event_id"]: event for event in events}
        for event in events:
            target = _replaced_event_id(event)
            if not target:
                continue
            original = by_id.get(target) or api.event(event["room_id"], target)
            if original is not None:
                by_id.setdefault(target, original)  # several edits of one message: one request
                event["original_event"] = {k: v for k, v in original.items() if k != "original_event"}

    # --- writing ---------------------------------------------------------------------------------------

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        """Answer in the message's thread (a new thread on a top-level message), replying to the message."""
        if not text.strip():
            raise ValueError("a reply needs text")
        root = target.thread_external_id or target.message_external_id
        relation = {
            "rel_type": THREAD,
            "event_id": root,
            # Answering the root itself: the m.in_reply_to is only there for clients without threads.
            "is_falling_back": target.message_external_id == root,
            "m.in_reply_to": {"event_id": target.message_external_id},
        }
        content = {"msgtype": "m.text", "body": text, "m.relates_to": relation}
        with self._session() as session:
            event_id = session.client.send(
                target.channel, event_type=MESSAGE, txn_id=txn_id("reply", idempotency_key), content=content
            )
        return SendResult(external_id=event_id, url=permalink(target.channel, event_id))

    def moderate(
        self, *, action: ModerationAction, target: ModerationTarget, reason: str = "", idempotency_key: str
    ) -> SendResult:
        """Apply `action` in `target.channel`; see moderation.py for what each action does on Matrix."""
        with self._session() as session:
            event_id = moderation.apply(
                session.client, action, target, reason=reason, txn_id=txn_id(action.value, idempotency_key)
            )
        return SendResult(external_id=event_id, url=permalink(target.channel, event_id) if event_id else "")

    # --- session ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[sessions.Session]:
        """The bot account's session (see sessions.py): with its token, or logged in once with its password.

        A token the homeserver no longer accepts ends the session, so that the next attempt (after a person
        fixed the source) starts a new one instead of sending the refused token again.
        """
        token = _secret(self.config.access_token)
        session = sessions.session_for(
            self.config.homeserver,
            self.config.user_id,
            credential=token or _secret(self.config.password),
            log_in=None if token else self._log_in,
        )
        try:
            yield session
        except MatrixError as exc:
            if exc.errcode in (UNKNOWN_TOKEN, MISSING_TOKEN):
                sessions.forget(session)
            raise

    def _log_in(self) -> str:
        with MatrixClient(self.config.homeserver) as anonymous:
            return anonymous.login(
                user_id=self.config.user_id, password=_secret(self.config.password), device_id=self.device_id
            )

    @property
    def device_id(self) -> str:
        """One stable device per bot account and homeserver, whichever worker logs in.

        Matrix scopes transaction ids to the device: with the same device, a send retried after a new login
        is still recognised as the same send.
        """
        digest = hashlib.sha256(f"{self.config.homeserver}|{self.config.user_id}".encode()).hexdigest()
        return f"COMMUNA{digest[:10].upper()}"


def txn_id(action: str, idempotency_key: str) -> str:
    """The Matrix transaction id for an outbox write: the same key always gives the same id."""
    return f"communa-{action}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"


def event_filter(limit: int) -> str:
    """A RoomEventFilter for /messages: the events normalize reads, and the senders' member events."""
    return json.dumps(
        {
            "types": [*READ_TYPES, ENCRYPTION],
            "limit": limit,
            "lazy_load_members": True,
            "include_redundant_members": True,
        }
    )


def sync_filter(room_ids: Iterable[str], *, timeline_limit: int) -> str:
    """Only the configured rooms' timelines and their senders' member events; no presence, typing or receipts."""
    nothing = {"not_types": ["*"]}
    timeline = {
        "types": [*READ_TYPES, ENCRYPTION],
        "limit": timeline_limit,
        "lazy_load_members": True,
        # Member events for every sender every time: names must not depend on what an earlier sync sent.
        "include_redundant_members": True,
    }
    state = {"types": [MEMBER, ENCRYPTION], "lazy_load_members": True, "include_redundant_members": True}
    room = {
        "rooms": list(room_ids),
        "timeline": timeline,
        "state": state,
        "ephemeral": nothing,
        "account_data": nothing,
    }
    return json.dumps({"room": room, "presence": nothing, "account_data": nothing}, separators=(",", ":"))


def refuse_encrypted(room_id: str, events: Iterable[dict[str, Any]]) -> None:
    """Communa has no end-to-end encryption keys: an encrypted room would read as silence, so say so."""
    if any(event.get("type") == ENCRYPTION for event in events):
        raise PermanentError(
            f"room {room_id} is end-to-end encrypted, and Communa cannot read encrypted rooms:"
            " remove it from this source, or use a room without encryption"
        )


def annotate(room_id: str, *, state: list[dict[str, Any]], timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline events worth storing, each with its room id and its sender's display name at that point."""
    names: dict[str, str] = {}
    for event in state:
        _note_name(names, event)
    annotated = []
    for event in timeline:
        _note_name(names, event)
        if event.get("type") in READ_TYPES and isinstance(event.get("event_id"), str):
            sender = str(event.get("sender", ""))
            annotated.append({**event, "room_id": room_id, "sender_display_name": names.get(sender, "")})
    return annotated


def _note_name(names: dict[str, str], event: dict[str, Any]) -> None:
    if event.get("type") != MEMBER or not isinstance(event.get("state_key"), str):
        return
    content = event.get("content")
    name = content.get("displayname") if isinstance(content, dict) else None
    if isinstance(name, str) and name:
        names[event["state_key"]] = name


def _replaced_event_id(event: dict[str, Any]) -> str:
    content = event.get("content")
    relation = content.get("m.relates_to") if isinstance(content, dict) else None
    if event.get("type") != MESSAGE or not isinstance(relation, dict) or relation.get("rel_type") != REPLACE:
        return ""
    target = relation.get("event_id")
    return target if isinstance(target, str) else ""
