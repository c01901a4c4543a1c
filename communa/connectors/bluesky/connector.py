"""Bluesky (AT Protocol): read an account's posts and what people say to it; reply, publish, moderate.

Reading. `fetch` polls, from a cursor:
- the account's own repository (com.atproto.repo.listRecords, app.bsky.feed.post), oldest new post first,
  after the last record key read; the first poll takes the latest `initial_posts`;
- where an AppView answers (through the PDS), notifications (app.bsky.notification.listNotifications):
  mentions, replies and quotes, and likes and reposts when asked for; newest first back to the last one
  read. Notifications are never marked as seen, so the account's own apps are not disturbed;
- for every reply in the batch, the post it answers and its thread's root when they are not in the batch
  (app.bsky.feed.getPosts, 25 a call), so that a conversation reads in order.
Without an AppView only the account's own posts can be read: nobody else's posts reach its repository.

Writing. A reply is an app.bsky.feed.post with `reply.root` and `reply.parent` (strong references: the
parent's current cid is fetched, and its root taken from it); `publish` writes a top-level post. The record
key is derived from the outbox's idempotency key (`records.record_key_for`), and the record is looked up
before it is written, so that a retried write never posts twice. Links, @mentions and #hashtags become
facets as in Bluesky's app. Moderation is what an account can do on Bluesky (see `moderate`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from pydantic import Field, SecretStr, ValidationError, field_validator

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
from communa.connectors.bluesky.client import RECORD_NOT_FOUND, AtprotoError, BlueskyClient
from communa.connectors.bluesky.normalize import normalize_item, parse_datetime
from communa.connectors.bluesky.records import DID, HANDLE, parse_at_uri, post_url, record_key_for
from communa.connectors.bluesky.richtext import detect_facets
from communa.connectors.bluesky.schemas import (
    BLOCK,
    POST,
    VIA_CONTEXT,
    VIA_NOTIFICATION,
    VIA_REPO,
    NotificationPage,
    PostRecord,
    PostsResponse,
    RecordPage,
    ReplyRef,
    Session,
    StrongRef,
    WriteResult,
)
from communa.core.http import PermanentError, TransientError

logger = logging.getLogger(__name__)

CONVERSATION_REASONS = ("mention", "reply", "quote")
REACTION_REASONS = ("like", "repost", "like-via-repost", "repost-via-repost")
_SERVICE_REF = r"^did:[a-z]+:[A-Za-z0-9._:%-]+#[A-Za-z0-9_-]+$"


class BlueskyConfig(ConnectorConfig):
    service: str = Field(
        default="https://bsky.social",
        max_length=500,
        title=gettext_noop("Hosting provider (PDS)"),
        description=gettext_noop(
            "The account's PDS (hosting provider). Accounts created in Bluesky's app: https://bsky.social."
        ),
        examples=["https://bsky.social"],
    )
    identifier: str = Field(
        max_length=253,
        title=gettext_noop("Handle or DID"),
        description=gettext_noop("The account's handle (without @) or DID."),
        examples=["yourbrand.bsky.social"],
    )
    app_password: SecretStr = Field(
        title=gettext_noop("App password"),
        description=gettext_noop(
            "An app password of that account (Settings → Privacy and security → App passwords); never"
            " the account's own password."
        ),
    )
    read_conversations: bool = Field(
        default=True,
        title=gettext_noop("Read conversations"),
        description=gettext_noop(
            "Read mentions of the account, replies to it and quotes of its posts (needs an AppView)."
        ),
    )
    read_own_posts: bool = Field(
        default=True,
        title=gettext_noop("Read own posts"),
        description=gettext_noop("Read the account's own posts and replies."),
    )
    read_reactions: bool = Field(
        default=False,
        title=gettext_noop("Read likes and reposts"),
        description=gettext_noop("Also read likes and reposts of the account's posts (needs an AppView)."),
    )
    use_appview: bool = Field(
        default=True,
        title=gettext_noop("Use an AppView"),
        description=gettext_noop(
            "Ask an AppView for notifications and threads (bsky.social has one). Turn off for a PDS"
            " without one: then only the account's own posts are read, and muting is not possible."
        ),
    )
    appview_proxy: str = Field(
        default="",
        max_length=300,
        title=gettext_noop("AppView service (advanced)"),
        description=gettext_noop(
            "The AppView the PDS should ask, as a service reference; leave empty to use the PDS's own."
        ),
        examples=["did:web:api.bsky.app#bsky_appview"],
    )

    @field_validator("service")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(gettext("enter an http:// or https:// address"))
        return value.rstrip("/")

    @field_validator("identifier")
    @classmethod
    def _handle_or_did(cls, value: str) -> str:
        value = value.removeprefix("@")
        if DID.match(value):
            return value
        if HANDLE.match(value):
            return value.lower()
        raise ValueError(gettext("a handle looks like name.bsky.social, a DID like did:plc:…"))

    @field_validator("appview_proxy")
    @classmethod
    def _service_reference(cls, value: str) -> str:
        if value and not re.match(_SERVICE_REF, value):
            raise ValueError(gettext("a service reference looks like did:web:api.bsky.app#bsky_appview"))
        return value


class BlueskyConnector(Connector):
    kind = "bluesky"
    label = _("Bluesky")
    description = _(
        "Follow a Bluesky account: its posts, mentions, replies and quotes; reply and post as it; delete its own"
        " posts, mute and block accounts."
    )
    capabilities = frozenset({Capability.POLL, Capability.REPLY, Capability.PUBLISH, Capability.MODERATE})
    idempotent_writes = True  # a record key per idempotency key, looked up before writing
    # What one account can do on Bluesky; removing other people's posts or labelling needs a moderation service.
    moderation_actions = frozenset(
        {
            ModerationAction.REMOVE_MESSAGE,
            ModerationAction.MUTE,
            ModerationAction.UNMUTE,
            ModerationAction.BAN,
            ModerationAction.UNBAN,
        }
    )
    Config = BlueskyConfig
    docs_page = "connectors/bluesky.md"

    config: BlueskyConfig

    initial_posts: ClassVar[int] = 50  # the account's latest posts read on the first poll
    initial_notifications: ClassVar[int] = 50
    page_size: ClassVar[int] = 100
    max_pages: ClassVar[int] = 20  # per poll and kind; more waits for the next poll (posts) or is skipped
    posts_per_lookup: ClassVar[int] = 25  # app.bsky.feed.getPosts takes at most 25 URIs

    # --- reading ---------------------------------------------------------------------------------------

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """Poll once from `cursor`: new own posts, new notifications, and the posts they answer."""
        next_cursor = dict(cursor)
        items: list[RawItem] = []
        with self._client() as api:
            session = api.account()
            if self.config.read_own_posts:
                items += self._own_posts(api, session, next_cursor)
            if self.config.use_appview and self._reasons():
                items += self._notifications(api, next_cursor)
            if self.config.use_appview:
                items += self._context(api, items)
        return FetchResult(items=items, cursor=next_cursor)

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        return normalize_item(item.payload, account_did=self._account_did(item))

    def _account_did(self, item: RawItem) -> str:
        """The account's DID, where normalize can know it purely: the configured DID, or the repo's owner."""
        if DID.match(self.config.identifier):
            return self.config.identifier
        author = item.payload.get("author")
        if item.payload.get("via") == VIA_REPO and isinstance(author, dict):
            return str(author.get("did", ""))
        return ""

    def _reasons(self) -> tuple[str, ...]:
        reasons: tuple[str, ...] = CONVERSATION_REASONS if self.config.read_conversations else ()
        return reasons + (REACTION_REASONS if self.config.read_reactions else ())

    def _own_posts(self, api: BlueskyClient, session: Session, cursor: dict[str, Any]) -> list[RawItem]:
        """New posts of the account's repository, oldest first, after `cursor["repo_after"]` (a record key)."""
        after = cursor.get("repo_after")
        author = {"did": session.did, "handle": session.handle}
        records = []
        if not isinstance(after, str) or not after:
            page = self._list_records(api, session.did, POST, limit=self.initial_posts)
            records = list(reversed(page.records))
        else:
            for _page in range(self.max_pages):
                page = self._list_records(api, session.did, POST, limit=self.page_size, after=after)
                records += page.records
                if not page.records or len(page.records) < self.page_size:
                    break
                after = parse_at_uri(page.records[-1].uri).rkey
        if records:
            cursor["repo_after"] = max(parse_at_uri(r.uri).rkey for r in records)
        elif "repo_after" not in cursor:
            cursor["repo_after"] = ""
        return [
            RawItem(external_id=r.uri, payload={"via": VIA_REPO, **r.model_dump(), "author": author}) for r in records
        ]

    def _list_records(
        self, api: BlueskyClient, repo: str, collection: str, *, limit: int, after: str = ""
    ) -> RecordPage:
        """One page of a collection: the newest first, or, `after` a record key, the next ones oldest first."""
        params: dict[str, Any] = {"repo": repo, "collection": collection, "limit": limit}
        if after:
            params.update(reverse="true", cursor=after)
        data = api.xrpc(f"could not list {collection} records of {repo}", "com.atproto.repo.listRecords", params=params)
        return RecordPage.model_validate(data)

    def _notifications(self, api: BlueskyClient, cursor: dict[str, Any]) -> list[RawItem]:
        """Notifications newer than the last one read (`notified_since`, and the ids seen at that instant)."""
        since = parse_datetime(str(cursor.get("notified_since") or ""))
        seen_then = set(cursor.get("notified_at_since") or [])
        wanted = self._reasons()
        found: list[dict[str, Any]] = []
        page_cursor = ""
        first_poll = since is None
        for _page in range(1 if first_poll else self.max_pages):
            page = self._notification_page(api, wanted, page_cursor, first_poll=first_poll)
            fresh = [n for n in page.notifications if not _already_read(n, since, seen_then)]
            found += fresh
            if len(fresh) < len(page.notifications) or not page.cursor:
                break
            page_cursor = page.cursor
        else:
            if not first_poll:
                logger.warning("bluesky: more than %d new notifications; older ones are skipped", len(found))
        _advance_notifications(cursor, found)
        return [
            RawItem(external_id=str(n["uri"]), payload={"via": VIA_NOTIFICATION, **n})
            for n in reversed(found)
            if n.get("reason") in wanted and isinstance(n.get("uri"), str)
        ]

    def _notification_page(
        self, api: BlueskyClient, reasons: tuple[str, ...], page_cursor: str, *, first_poll: bool
    ) -> NotificationPage:
        params: dict[str, Any] = {
            "limit": self.initial_notifications if first_poll else self.page_size,
            "reasons": list(reasons),
        }
        if page_cursor:
            params["cursor"] = page_cursor
        data = api.xrpc(
            "could not read the notifications", "app.bsky.notification.listNotifications", params=params, appview=True
        )
        return NotificationPage.model_validate(data)

    def _context(self, api: BlueskyClient, items: list[RawItem]) -> list[RawItem]:
        """The posts that the batch's replies answer (parent and thread root) and that are not in the batch."""
        present = {item.external_id for item in items}
        wanted: list[str] = []
        for item in items:
            reply = _reply_of(item.payload)
            if reply is not None:
                wanted += [uri for uri in (reply.root.uri, reply.parent.uri) if uri not in present]
        missing = list(dict.fromkeys(wanted))
        posts: list[dict[str, Any]] = []
        for start in range(0, len(missing), self.posts_per_lookup):
            chunk = missing[start : start + self.posts_per_lookup]
            data = api.xrpc(
                "could not read the posts being answered",
                "app.bsky.feed.getPosts",
                params={"uris": chunk},
                appview=True,
            )
            posts += PostsResponse.model_validate(data).posts
        return [RawItem(external_id=str(p["uri"]), payload={"via": VIA_CONTEXT, **p}) for p in posts if "uri" in p]

    # --- writing ---------------------------------------------------------------------------------------

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        """Answer the post `target.message_external_id` (an at:// URI) in its thread."""
        with self._client() as api:
            session = api.session()
            parent = self._get_record(api, target.message_external_id, action="could not read the post to answer")
            if parent is None:
                raise PermanentError(f"the post to answer no longer exists: {target.message_external_id}")
            parent_ref = StrongRef(uri=parent["uri"], cid=parent["cid"])
            parent_reply = PostRecord.model_validate(parent.get("value") or {}).reply
            root_ref = parent_reply.root if parent_reply else parent_ref
            reply = {"root": root_ref.model_dump(), "parent": parent_ref.model_dump()}
            return self._post(api, session, text, record_key_for(idempotency_key, "reply"), reply=reply)

    def publish(self, *, text: str, idempotency_key: str) -> SendResult:
        """Write a new top-level post as the account; the same `idempotency_key` never posts twice.

        Bluesky-only for now (the Connector interface has no `publish` yet): Capability.PUBLISH announces it.
        """
        with self._client() as api:
            return self._post(api, api.session(), text, record_key_for(idempotency_key, "post"))

    def _post(
        self, api: BlueskyClient, session: Session, text: str, rkey: str, *, reply: dict[str, Any] | None = None
    ) -> SendResult:
        if not text.strip():
            raise ValueError("a post needs text")
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _now_iso()}
        facets = detect_facets(text, lambda handle: self._resolve_handle(api, handle))
        if facets:
            record["facets"] = facets
        if reply is not None:
            record["reply"] = reply
        written = self._create_once(api, session.did, POST, rkey, record)
        return SendResult(external_id=written.uri, url=post_url(session.handle or session.did, rkey))

    def _create_once(
        self, api: BlueskyClient, repo: str, collection: str, rkey: str, record: dict[str, Any]
    ) -> WriteResult:
        """Create the record under `rkey` unless it exists already (a retry of a write that went through)."""
        uri = f"at://{repo}/{collection}/{rkey}"
        existing = self._get_record(api, uri, action=f"could not check for {uri}")
        if existing is not None:
            return WriteResult(uri=existing["uri"], cid=existing["cid"])
        body = {"repo": repo, "collection": collection, "rkey": rkey, "record": record}
        try:
            # One attempt: if the answer is lost after the PDS wrote it, the lookup below finds it.
            data = api.xrpc(f"could not write {collection}", "com.atproto.repo.createRecord", body=body, attempts=1)
        except TransientError:
            existing = self._get_record(api, uri, action=f"could not check for {uri}")
            if existing is None:
                raise
            return WriteResult(uri=existing["uri"], cid=existing["cid"])
        return WriteResult.model_validate(data)

    def _get_record(self, api: BlueskyClient, uri: str, *, action: str) -> dict[str, Any] | None:
        """A record by at:// URI ({uri, cid, value}); None when it does not exist (or no longer does)."""
        try:
            address = parse_at_uri(uri)
        except ValueError as exc:
            raise PermanentError(f"{action}: {exc}") from exc
        params = {"repo": address.repo, "collection": address.collection, "rkey": address.rkey}
        try:
            return api.xrpc(action, "com.atproto.repo.getRecord", params=params)
        except AtprotoError as exc:
            if exc.error == RECORD_NOT_FOUND:
                return None
            raise

    def _resolve_handle(self, api: BlueskyClient, handle: str) -> str | None:
        """The DID of a handle mentioned in a post; None when nobody has it (the mention stays plain text)."""
        try:
            data = api.xrpc(
                f"could not look up @{handle}", "com.atproto.identity.resolveHandle", params={"handle": handle}
            )
        except AtprotoError:
            return None
        did = data.get("did")
        return did if isinstance(did, str) and DID.match(did) else None

    # --- moderation --------------------------------------------------------------------------------------

    def moderate(
        self, *, action: ModerationAction, target: ModerationTarget, reason: str = "", idempotency_key: str
    ) -> SendResult:
        """What an account can do on Bluesky, applied as the account:

        - REMOVE_MESSAGE deletes one of the account's OWN posts (nobody can delete someone else's);
        - MUTE / UNMUTE: app.bsky.graph.muteActor / unmuteActor — a private mute: the member can still post
          and reply, but the account no longer sees them (nor are their mentions notified: Communa stops
          reading them too). Needs an AppView;
        - BAN / UNBAN: a public block record (app.bsky.graph.block) / its deletion — the member can no longer
          reply to, quote or mention the account, and neither sees the other's posts.
        `target.user_external_id` is the member's DID. `reason` stays in Communa: Bluesky records none.
        """
        with self._client() as api:
            session = api.session()
            if action is ModerationAction.REMOVE_MESSAGE:
                return self._delete_own_post(api, session, target.message_external_id)
            member = _member_did(target)
            if action in (ModerationAction.MUTE, ModerationAction.UNMUTE):
                return self._mute(api, member, mute=action is ModerationAction.MUTE)
            if action is ModerationAction.BAN:
                return self._block(api, session, member, record_key_for(idempotency_key, "block"))
            if action is ModerationAction.UNBAN:
                return self._unblock(api, session, member)
        raise NotImplementedError(
            f"Bluesky cannot {action.value.replace('_', ' ')}: an account can only delete its own posts, mute and block"
        )

    def _delete_own_post(self, api: BlueskyClient, session: Session, uri: str) -> SendResult:
        try:
            address = parse_at_uri(uri)
        except ValueError as exc:
            raise PermanentError(f"could not remove the post: {exc}") from exc
        if address.repo != session.did or address.collection != POST:
            raise PermanentError(
                "Bluesky lets an account delete only its own posts; mute or block the author instead"
                f" ({uri} is not a post of {session.handle})"
            )
        body = {"repo": session.did, "collection": POST, "rkey": address.rkey}
        # Deleting a record that is already gone succeeds: a retry is harmless.
        api.xrpc(f"could not delete {uri}", "com.atproto.repo.deleteRecord", body=body)
        return SendResult(external_id=uri)

    def _mute(self, api: BlueskyClient, member: str, *, mute: bool) -> SendResult:
        if not self.config.use_appview:
            raise PermanentError("muting on Bluesky is kept by the AppView, and this source uses none; block instead")
        nsid = "app.bsky.graph.muteActor" if mute else "app.bsky.graph.unmuteActor"
        # Muting a muted account (or unmuting one that is not) is accepted and changes nothing.
        api.xrpc(f"could not {'mute' if mute else 'unmute'} {member}", nsid, body={"actor": member}, appview=True)
        return SendResult()

    def _block(self, api: BlueskyClient, session: Session, member: str, rkey: str) -> SendResult:
        """Block `member`, unless the account already blocks them (then that block is the answer)."""
        existing = next(self._blocks_of(api, session.did, member), None)
        if existing is not None:
            return SendResult(external_id=existing)
        record = {"$type": BLOCK, "subject": member, "createdAt": _now_iso()}
        return SendResult(external_id=self._create_once(api, session.did, BLOCK, rkey, record).uri)

    def _unblock(self, api: BlueskyClient, session: Session, member: str) -> SendResult:
        removed = list(self._blocks_of(api, session.did, member))
        for uri in removed:
            body = {"repo": session.did, "collection": BLOCK, "rkey": parse_at_uri(uri).rkey}
            api.xrpc(f"could not unblock {member}", "com.atproto.repo.deleteRecord", body=body)
        return SendResult(external_id=removed[0] if removed else "")

    def _blocks_of(self, api: BlueskyClient, repo: str, member: str) -> Iterator[str]:
        """The URIs of the account's block records for `member` (normally one), from its repository."""
        after = ""
        for _page in range(self.max_pages * 5):
            page = self._list_records(api, repo, BLOCK, limit=self.page_size, after=after)
            yield from (r.uri for r in page.records if r.value.get("subject") == member)
            if len(page.records) < self.page_size:
                return
            after = parse_at_uri(page.records[-1].uri).rkey

    # --- session -----------------------------------------------------------------------------------------

    def _client(self) -> BlueskyClient:
        return BlueskyClient(
            self.config.service,
            identifier=self.config.identifier,
            password=self.config.app_password.get_secret_value(),
            appview_proxy=self.config.appview_proxy,
        )


def _reply_of(payload: dict[str, Any]) -> ReplyRef | None:
    """The `reply` of a stored post payload; None for a top-level post, a like, or an unreadable record."""
    record = payload.get("record") or payload.get("value")
    if not isinstance(record, dict) or record.get("$type") != POST:
        return None
    try:
        return PostRecord.model_validate(record).reply
    except ValidationError:
        return None  # normalize records the problem; context is only a help


def _member_did(target: ModerationTarget) -> str:
    if not DID.match(target.user_external_id):
        raise PermanentError(f"a Bluesky account is named by its DID (did:plc:…), not {target.user_external_id!r}")
    return target.user_external_id


def _already_read(notification: dict[str, Any], since: Any, seen_then: set[str]) -> bool:
    """Older than the newest notification read last time, or one of those read at that very instant."""
    if since is None:
        return False
    moment = parse_datetime(str(notification.get("indexedAt") or ""))
    if moment is None:
        return True  # unreadable: it cannot be placed after the cursor
    return moment < since or (moment == since and notification.get("uri") in seen_then)


def _advance_notifications(cursor: dict[str, Any], found: Iterable[dict[str, Any]]) -> None:
    """Move the notification cursor to the newest of `found` (and remember who shares that instant)."""
    dated = [(parse_datetime(str(n.get("indexedAt") or "")), str(n.get("uri", ""))) for n in found]
    moments = [(moment, uri) for moment, uri in dated if moment is not None]
    if not moments:
        cursor.setdefault("notified_since", "")
        return
    newest = max(moment for moment, _uri in moments)
    previous = parse_datetime(str(cursor.get("notified_since") or ""))
    same_instant = [uri for moment, uri in moments if moment == newest]
    if previous == newest:
        same_instant = list(dict.fromkeys([*cursor.get("notified_at_since", []), *same_instant]))
    cursor["notified_since"] = newest.isoformat()
    cursor["notified_at_since"] = same_instant


def _now_iso() -> str:
    return timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
