"""The parts of Matrix client-server API payloads the connector reads, as pydantic models.

Unknown keys are ignored (servers add fields over time). A stored payload is one room event in the
client format, as /sync or /messages delivered it, with three keys added by `MatrixConnector.fetch`:

- `room_id`: the room (the /sync format leaves it out, /messages keeps it);
- `sender_display_name`: the sender's room display name at that point, from the member events of the same
  response (lazy-loaded), so that a pure `normalize` can name people;
- `original_event`: on an edit (`m.replace`) only, the event it replaces as the server returned it, so that
  the edited message keeps its date, author, reply and thread, and an edit by anyone but the original
  sender can be refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

THREAD = "m.thread"
REPLACE = "m.replace"
ANNOTATION = "m.annotation"
HTML_FORMAT = "org.matrix.custom.html"


class MatrixModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# --- events ----------------------------------------------------------------------------------------


class InReplyTo(MatrixModel):
    event_id: str


class Relation(MatrixModel):
    """`m.relates_to`: a reply (`m.in_reply_to`), or a typed relation (thread, edit, reaction)."""

    rel_type: str = ""
    event_id: str = ""
    key: str = ""  # the reaction, for m.annotation
    is_falling_back: bool = False  # in a thread: the m.in_reply_to is only there for older clients
    in_reply_to: InReplyTo | None = Field(default=None, alias="m.in_reply_to")


class NewContent(MatrixModel):
    msgtype: str = ""
    body: str = ""
    format: str = ""
    formatted_body: str = ""


class MessageContent(NewContent):
    """An m.room.message (any msgtype: unknown ones are shown by their `body`, as the spec asks)."""

    relates_to: Relation | None = Field(default=None, alias="m.relates_to")
    new_content: NewContent | None = Field(default=None, alias="m.new_content")
    url: str = ""  # mxc:// URI of the media, for m.image, m.file, ...


class ReactionContent(MatrixModel):
    relates_to: Relation | None = Field(default=None, alias="m.relates_to")


class MemberContent(MatrixModel):
    membership: str = ""
    displayname: str | None = None
    reason: str = ""


class RedactionContent(MatrixModel):
    redacts: str = ""  # room versions 11+ put it here; older ones at the top level of the event
    reason: str = ""


class Unsigned(MatrixModel):
    redacted_because: dict[str, Any] | None = None
    prev_content: dict[str, Any] | None = None
    relations: dict[str, Any] = Field(default_factory=dict, alias="m.relations")


class RoomEvent(MatrixModel):
    event_id: str
    type: str
    sender: str
    origin_server_ts: int
    room_id: str = ""
    content: dict[str, Any] = Field(default_factory=dict)
    state_key: str | None = None
    redacts: str = ""
    unsigned: Unsigned = Field(default_factory=Unsigned)
    prev_content: dict[str, Any] | None = None  # /messages repeats unsigned.prev_content here
    # Added by fetch (see the module docstring).
    sender_display_name: str = ""
    original_event: RoomEvent | None = None

    @property
    def redacted(self) -> bool:
        return self.unsigned.redacted_because is not None

    @property
    def previous_content(self) -> dict[str, Any]:
        return self.unsigned.prev_content or self.prev_content or {}


# --- responses ---------------------------------------------------------------------------------------


class EventList(MatrixModel):
    events: list[dict[str, Any]] = Field(default_factory=list)


class Timeline(EventList):
    limited: bool = False
    prev_batch: str = ""


class SyncRoom(MatrixModel):
    timeline: Timeline = Field(default_factory=Timeline)
    state: EventList = Field(default_factory=EventList)


class SyncRooms(MatrixModel):
    join: dict[str, SyncRoom] = Field(default_factory=dict)
    leave: dict[str, SyncRoom] = Field(default_factory=dict)


class SyncResponse(MatrixModel):
    next_batch: str
    rooms: SyncRooms = Field(default_factory=SyncRooms)


class MessagesPage(MatrixModel):
    """GET /rooms/{room}/messages: `end` is absent once there is nothing more in that direction."""

    chunk: list[dict[str, Any]] = Field(default_factory=list)
    state: list[dict[str, Any]] = Field(default_factory=list)
    end: str = ""


class PowerLevels(MatrixModel):
    """m.room.power_levels content, for reading; writes change the `users` map of the raw content only."""

    users: dict[str, int] = Field(default_factory=dict)
    users_default: int = 0
    events: dict[str, int] = Field(default_factory=dict)
    events_default: int = 0


class MatrixErrorBody(MatrixModel):
    errcode: str = ""
    error: str = ""
    retry_after_ms: int | None = None
