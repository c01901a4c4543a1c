"""Email: read a support or community mailbox over IMAP, answer over SMTP.

Reading. `fetch` opens the configured folder read-only and asks for the mail that arrived since the cursor
(`{"folder", "uidvalidity", "last_uid"}`: IMAP's UIDs only ever grow within one UIDVALIDITY). When nothing
is new it waits on the server, with IDLE when the server offers it (most do) or by asking every few seconds,
up to `idle_seconds`, so new mail shows up within a second or two. At most `batch_size` mails (and about
64 MB) are taken per call; the worker's listener calls again at once while there is more. The first read
takes the last `history_days` of mail. When the folder's UIDVALIDITY changes (the folder was recreated, the
mailbox moved to another server), the folder is read again from the start of that window: nothing is
doubled, because a mail's id is its Message-ID.

Writing. `reply` sends a plain-text reply over SMTP to the person who wrote (their Reply-To, else From),
threaded with In-Reply-To and References, under a Message-ID derived from the outbox's idempotency key.
The reply is also sent to the mailbox itself (a blind copy, invisible to the recipient), so it comes back
through `fetch` and joins its conversation: being the same Message-ID, it is the same message, not a new
one. Before sending, the folder is searched for that Message-ID: a retried reply whose copy has already
arrived is not sent again.

No moderation: a mailbox has nothing to remove or ban. Deciding who may write to a mailing list is the
list's business (its own moderation queue), not the mailbox's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.utils.translation import gettext_lazy as _

from communa.connectors.base import (
    Capability,
    Connector,
    FetchResult,
    NormalizedMessage,
    RawItem,
    ReplyTarget,
    SendResult,
)
from communa.connectors.email.imap import MAX_FETCH_BYTES, POLL_SECONDS, FetchedMail, FolderState, ImapSession
from communa.connectors.email.normalize import MACHINE_SENDER, normalize_payload
from communa.connectors.email.parse import parse_message
from communa.connectors.email.schemas import EmailConfig, EmailPayload
from communa.connectors.email.smtp import SmtpSender, build_reply, reply_message_id
from communa.core.http import PermanentError

logger = logging.getLogger(__name__)


class EmailConnector(Connector):
    kind = "email"
    label = _("Email mailbox")
    description = _(
        "Follow a support or community mailbox over IMAP, live; answer by email over SMTP, in the same conversation."
    )
    capabilities = frozenset({Capability.POLL, Capability.STREAM, Capability.REPLY})
    # reply() looks for its own copy (same Message-ID) in the mailbox before sending; give it time to arrive.
    idempotent_writes = True
    reconcile_after = 120.0
    Config = EmailConfig
    docs_page = "connectors/email.md"

    config: EmailConfig

    batch_size = 200  # mails per fetch
    max_message_bytes = 10 * 1024 * 1024  # beyond this, only the start of a mail is read (its text comes first)
    max_batch_bytes = 64 * 1024 * 1024  # per fetch, whatever the number of mails
    timeout = 30.0  # seconds, for every socket operation
    poll_seconds = POLL_SECONDS  # waiting without IDLE: how often to ask

    # --- reading ---------------------------------------------------------------------------------------

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """New mail in the folder since `cursor`, waiting up to `idle_seconds` when there is none yet."""
        folder = self.config.folder
        with self._imap() as imap:
            state = imap.examine(folder)
            after = resume_after(cursor, folder=folder, uidvalidity=state.uidvalidity)
            uids, after = self._unread(imap, state.uidnext, after)
            if not uids and imap.wait_for_mail(self.config.idle_seconds, poll_seconds=self.poll_seconds):
                uids, after = self._unread(imap, None, after)
            mails, last_considered = self._download(imap, uids)
        items = [self._raw_item(mail, folder, state) for mail in mails]
        last_uid = max(last_considered or 0, after or 0)
        return FetchResult(
            items=items, cursor={"folder": folder, "uidvalidity": state.uidvalidity, "last_uid": last_uid}
        )

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        if "parse_error" in item.payload:
            raise ValueError(f"this mail could not be read: {item.payload['parse_error']}")
        return normalize_payload(item.payload, mailbox_address=self.config.from_address)

    def _unread(self, imap: ImapSession, uidnext: int | None, after: int | None) -> tuple[list[int], int | None]:
        """The UIDs to read next, and the UID they follow (None: still the first read of this folder)."""
        if after is None:
            if self.config.history_days:
                since = datetime.now(UTC).date() - timedelta(days=self.config.history_days)
                uids = imap.uids_since(since, limit=self.batch_size)
                if uids or uidnext is None:
                    return uids, None
                return [], uidnext - 1  # nothing recent: start after what is there
            after = 0
        return imap.uids_after(after, uidnext=uidnext, limit=self.batch_size), after

    def _download(self, imap: ImapSession, uids: list[int]) -> tuple[list[FetchedMail], int | None]:
        """Fetch `uids` in order within the byte budget; return the mails and the last UID considered."""
        if not uids:
            return [], None
        sizes = imap.sizes(uids)
        mails: list[FetchedMail] = []
        group: list[int] = []
        group_bytes = total = 0
        last: int | None = None
        for uid in uids:
            cost = min(sizes.get(uid, 0), self.max_message_bytes)
            if total and total + cost > self.max_batch_bytes:
                break
            last = uid
            if uid not in sizes:
                continue  # expunged since the search
            if group and group_bytes + cost > MAX_FETCH_BYTES:
                mails += imap.fetch(group, max_message_bytes=self.max_message_bytes)
                group, group_bytes = [], 0
            group.append(uid)
            group_bytes += cost
            total += cost
        mails += imap.fetch(group, max_message_bytes=self.max_message_bytes)
        return mails, last

    def _raw_item(self, mail: FetchedMail, folder: str, state: FolderState) -> RawItem:
        try:
            payload = parse_message(
                mail.raw,
                folder=folder,
                uid=mail.uid,
                internal_date=mail.internal_date,
                size=mail.size,
                truncated=mail.truncated,
            )
        except Exception as exc:  # a parser bug must not stop the mailbox: record it, move on
            logger.exception("email: could not parse UID %s in %s", mail.uid, folder)
            error = f"{type(exc).__name__}: {exc}"
            return RawItem(
                external_id=f"unreadable-{state.uidvalidity}-{mail.uid}",
                payload={"folder": folder, "uid": mail.uid, "parse_error": error},
            )
        return RawItem(external_id=payload["message_id"], payload=payload)

    # --- writing ---------------------------------------------------------------------------------------

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        """Answer the mail `target` by email; the same `idempotency_key` gives the same Message-ID."""
        if not text.strip():
            raise ValueError("a reply needs text")
        config = self.config
        message_id = reply_message_id(idempotency_key, config.domain)
        with self._imap() as imap:
            imap.examine(target.channel or config.folder)
            if self._copy_arrived(imap, message_id):
                logger.info("email: reply %s was already sent; not sending it again", message_id)
                return SendResult(external_id=message_id)
            recipient, subject, references = self._answered(imap, target)
        message = build_reply(
            from_address=config.from_address,
            from_name=config.from_name,
            reply_to=config.reply_to,
            to=recipient,
            subject=subject,
            answered=target.message_external_id,
            references=references,
            message_id=message_id,
            text=text,
            now=datetime.now(UTC),
        )
        copies = [config.from_address] if config.from_address.lower() != recipient[1].lower() else []
        refused = self._smtp().send(message, sender=config.from_address, recipient=recipient[1], copies=copies)
        if refused:
            # The reply went out; only the mailbox's own copy is missing, so it will not show in the thread.
            logger.warning("email: the mailbox's own copy of %s was refused: %s", message_id, refused)
        return SendResult(external_id=message_id)

    def _copy_arrived(self, imap: ImapSession, message_id: str) -> bool:
        for uid in imap.uids_with_message_id(message_id):
            headers = parse_message(imap.header_block(uid), folder="")
            if headers["message_id"] == message_id:
                return True
        return False

    def _answered(self, imap: ImapSession, target: ReplyTarget) -> tuple[tuple[str, str], str, list[str]]:
        """(name, address) to write to, the subject and References of the mail answered.

        What the target says wins; what it leaves out comes from the mail itself, found in the folder.
        """
        recipient = parseaddr(target.recipient) if target.recipient else ("", "")
        subject, references = target.subject, list(target.references)
        if not recipient[1] or not subject:
            original = self._find(imap, target.message_external_id)
            if original is not None:
                recipient = recipient if recipient[1] else self._reply_address(original)
                subject = subject or original.headers.subject
                references = references or original.headers.references
        if not recipient[1]:
            raise PermanentError(
                f"cannot answer <{target.message_external_id}>: it is not in the folder"
                f" {target.channel or self.config.folder!r} any more, and no recipient was given"
            )
        if MACHINE_SENDER.match(recipient[1].split("@", 1)[0]):
            raise PermanentError(f"{recipient[1]} is an automatic sender: a reply would reach nobody")
        return recipient, subject, references

    def _find(self, imap: ImapSession, message_id: str) -> EmailPayload | None:
        for uid in imap.uids_with_message_id(message_id):
            payload = EmailPayload.model_validate(parse_message(imap.header_block(uid), folder=""))
            if payload.message_id == message_id:
                return payload
        return None

    def _reply_address(self, original: EmailPayload) -> tuple[str, str]:
        """Reply-To, else From; for the mailbox's own mail (its copy of a reply), the person it went to."""
        headers = original.headers
        own = self.config.from_address.lower()
        senders = headers.from_ or headers.sender
        if senders and senders[0].address.lower() == own and headers.to:
            return headers.to[0].name, headers.to[0].address
        chosen = headers.reply_to or senders
        return (chosen[0].name, chosen[0].address) if chosen else ("", "")

    # --- connections -----------------------------------------------------------------------------------

    def _imap(self) -> ImapSession:
        config = self.config
        return ImapSession(
            host=config.imap_host,
            port=config.imap_port,
            security=config.imap_security,
            username=config.username,
            password=config.password.get_secret_value(),
            timeout=self.timeout,
        )

    def _smtp(self) -> SmtpSender:
        config = self.config
        username, password = config.smtp_login
        return SmtpSender(
            host=config.smtp_host,
            port=config.smtp_port,
            security=config.smtp_security,
            username=username,
            password=password,
            timeout=self.timeout,
        )


def resume_after(cursor: dict[str, Any], *, folder: str, uidvalidity: int) -> int | None:
    """The UID to continue after, or None to start over (first read, another folder, a new UIDVALIDITY)."""
    last_uid = cursor.get("last_uid")
    if cursor.get("folder") != folder or cursor.get("uidvalidity") != uidvalidity:
        if cursor:
            logger.warning(
                "email: %s changed (UIDVALIDITY %s → %s): reading it again",
                folder,
                cursor.get("uidvalidity"),
                uidvalidity,
            )
        return None
    return last_uid if isinstance(last_uid, int) and last_uid > 0 else None
