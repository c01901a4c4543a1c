"""An IMAP session with the few commands the connector needs, over the standard library's imaplib.

imaplib is enough here and adds no dependency: the connector only logs in, examines one folder, searches
UIDs, fetches whole messages and waits with IDLE. The two things imaplib (before Python 3.14) does not do
are small and live here: IDLE (RFC 2177), spoken on the raw socket so that a wait that times out never
leaves imaplib's buffered reader in its "timed out" state, and folder names in modified UTF-7 (RFC 3501
§5.1.3). Every socket operation has a timeout; every failure becomes a TransientError (try again later) or
a PermanentError (a person must change the settings), with the server's own words.

Folders are opened read-only (EXAMINE) and messages fetched with BODY.PEEK: reading never marks a mail as
seen, moves or deletes it, so the people who work in the same mailbox see it exactly as before.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import imaplib
import itertools
import re
import select
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from types import TracebackType
from typing import Any

from communa.connectors.email.schemas import Security
from communa.core.http import PermanentError, TransientError

SEARCH_WINDOW = 20_000  # UIDs per SEARCH, so that no answer outgrows imaplib's 1 MB line limit
POLL_SECONDS = 5.0  # without IDLE: how often a wait asks the server for news
MAX_FETCH_BYTES = 16 * 1024 * 1024  # per FETCH command: several commands make one batch
_FETCH_START = re.compile(rb"^\d+ \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_RESPONSE_CODE = re.compile(r"^\[([A-Z-]+)")
_TRANSIENT_LOGIN_CODES = frozenset({"UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG"})
_idle_tags = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int | None  # None when the server did not say
    exists: int


@dataclasses.dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes
    internal_date: datetime | None
    size: int
    truncated: bool  # only the first `max_message_bytes` were fetched


class ImapSession:
    """One logged-in IMAP connection. Use it as a context manager: it logs out and closes on exit."""

    def __init__(
        self, *, host: str, port: int, security: Security, username: str, password: str, timeout: float
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout = timeout
        self._conn: imaplib.IMAP4 | None = None
        self._exists = 0

    # --- connection --------------------------------------------------------------------------------

    def __enter__(self) -> ImapSession:
        self._conn = self._connect()
        try:
            self._login()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def conn(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise RuntimeError("the IMAP session is not open")
        return self._conn

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(str(c).upper() for c in self.conn.capabilities)

    def close(self) -> None:
        """Log out politely when the connection still works; never raises."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # A broken connection is closed either way; logout() usually closes it already.
        with contextlib.suppress(Exception):
            conn.logout()
        with contextlib.suppress(Exception):
            conn.shutdown()

    def _connect(self) -> imaplib.IMAP4:
        where = f"{self.host}:{self.port}"
        context = ssl.create_default_context()
        try:
            if self.security is Security.SSL:
                return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
            conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if self.security is Security.STARTTLS:
                self._start_tls(conn, context)
            return conn
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"the IMAP server {where} has a certificate that cannot be trusted: {exc}") from exc
        except ssl.SSLError as exc:
            raise PermanentError(
                f"TLS with the IMAP server {where} failed ({exc}): check the port and security"
                " (993 is SSL/TLS, 143 is STARTTLS)"
            ) from exc
        except (OSError, EOFError, imaplib.IMAP4.error) as exc:
            raise TransientError(f"could not reach the IMAP server {where}: {_reason(exc)}") from exc

    def _start_tls(self, conn: imaplib.IMAP4, context: ssl.SSLContext) -> None:
        if "STARTTLS" not in conn.capabilities:
            conn.shutdown()
            raise PermanentError(
                f"the IMAP server {self.host}:{self.port} does not offer STARTTLS: choose SSL/TLS (usually port 993)"
            )
        conn.starttls(ssl_context=context)

    def _login(self) -> None:
        conn = self.conn
        try:
            if "AUTH=PLAIN" in self.capabilities:
                # SASL PLAIN carries UTF-8; imaplib's LOGIN would refuse a password that is not ASCII.
                credentials = f"\0{self.username}\0{self._password}".encode()
                conn.authenticate("PLAIN", lambda _challenge: credentials)
            else:
                conn.login(self.username, self._password)
        except imaplib.IMAP4.abort as exc:
            raise TransientError(f"the IMAP server dropped the connection while logging in: {_reason(exc)}") from exc
        except imaplib.IMAP4.error as exc:
            reason = _reason(exc)
            match = _RESPONSE_CODE.match(reason)
            if match and match.group(1) in _TRANSIENT_LOGIN_CODES:
                raise TransientError(f"the IMAP server cannot log {self.username} in right now: {reason}") from exc
            raise PermanentError(
                f"the IMAP server refused the login for {self.username}: {reason} (check the username and password;"
                " some providers need an app password)"
            ) from exc
        except (OSError, EOFError) as exc:
            raise TransientError(f"lost the IMAP server while logging in: {_reason(exc)}") from exc

    @contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """Map the failures of one exchange: a NO or BAD answer, a dropped or timed-out connection."""
        try:
            yield
        except (PermanentError, TransientError):
            raise
        except imaplib.IMAP4.abort as exc:
            raise TransientError(f"the IMAP server dropped the connection ({what}): {_reason(exc)}") from exc
        except imaplib.IMAP4.error as exc:
            raise TransientError(f"the IMAP server refused to {what}: {_reason(exc)}") from exc
        except (OSError, EOFError) as exc:
            raise TransientError(f"lost the IMAP server while trying to {what}: {_reason(exc)}") from exc

    # --- folders -----------------------------------------------------------------------------------

    def examine(self, folder: str) -> FolderState:
        """Open `folder` read-only; a folder that does not exist is a PermanentError naming the ones that do."""
        with self._talking(f"open the folder {folder}"):
            status, data = self.conn.select(quote(encode_folder(folder)), readonly=True)
            if status != "OK":
                names = ", ".join(self.folders()[:30])
                raise PermanentError(f"there is no folder {folder!r} in this mailbox (its folders: {names})")
            uidvalidity = _first_int(self.conn.response("UIDVALIDITY")[1])
            uidnext = _first_int(self.conn.response("UIDNEXT")[1])
            self._exists = _first_int(data) or 0
        if uidvalidity is None:
            raise PermanentError(f"the IMAP server gave no UIDVALIDITY for {folder!r}: it cannot be followed")
        return FolderState(uidvalidity=uidvalidity, uidnext=uidnext, exists=self._exists)

    def folders(self) -> list[str]:
        """The mailbox's folder names, decoded."""
        with self._talking("list the folders"):
            _status, lines = self.conn.list()
        names = []
        for line in lines:
            if isinstance(line, bytes):
                match = re.search(rb'(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$', line)
                if match:
                    raw = match.group(1) if match.group(1) is not None else match.group(2)
                    names.append(decode_folder(raw.decode("ascii", "replace").replace('\\"', '"')))
        return sorted(names)

    # --- searching and fetching --------------------------------------------------------------------

    def uids_after(self, last_uid: int, *, uidnext: int | None, limit: int) -> list[int]:
        """The first `limit` UIDs above `last_uid`, ascending, searched in windows (see SEARCH_WINDOW)."""
        found: list[int] = []
        low = last_uid + 1
        while len(found) < limit:
            if uidnext is not None and low >= uidnext:
                break
            high = "*" if uidnext is None else str(low + SEARCH_WINDOW - 1)
            found += [uid for uid in self._search("UID", f"{low}:{high}") if uid > last_uid]
            if uidnext is None:
                break
            low += SEARCH_WINDOW
        return sorted(set(found))[:limit]

    def uids_since(self, day: date, *, limit: int) -> list[int]:
        """The first `limit` UIDs of mail the server received on or after `day`, ascending."""
        return sorted(set(self._search("SINCE", day.strftime("%d-%b-%Y"))))[:limit]

    def uids_with_message_id(self, message_id: str) -> list[int]:
        """UIDs whose Message-ID header contains `<message_id>` (servers match substrings; callers check)."""
        if not message_id.isascii() or any(c in message_id for c in '"\\\r\n'):
            return []
        return self._search("HEADER", "Message-ID", f'"<{message_id}>"')

    def _search(self, *criteria: str) -> list[int]:
        with self._talking("search the folder"):
            status, data = self.conn.uid("SEARCH", *criteria)
        if status != "OK":
            raise TransientError(f"the IMAP server refused to search: {_reason(data)}")
        return [int(token) for line in data if isinstance(line, bytes) for token in line.split() if token.isdigit()]

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID that still exists."""
        if not uids:
            return {}
        with self._talking("read message sizes"):
            status, data = self.conn.uid("FETCH", uid_set(uids), "(UID RFC822.SIZE)")
        if status != "OK":
            raise TransientError(f"the IMAP server refused to fetch: {_reason(data)}")
        sizes = {}
        for line in data:
            text = line[0] if isinstance(line, tuple) else line
            if isinstance(text, bytes) and (uid := _UID.search(text)) and (size := _SIZE.search(text)):
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def fetch(self, uids: list[int], *, max_message_bytes: int) -> list[FetchedMail]:
        """Whole messages (BODY.PEEK: not marked seen); beyond `max_message_bytes`, only their beginning."""
        if not uids:
            return []
        with self._talking("fetch messages"):
            status, data = self.conn.uid(
                "FETCH", uid_set(uids), f"(UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.{max_message_bytes}>)"
            )
        if status != "OK":
            raise TransientError(f"the IMAP server refused to fetch: {_reason(data)}")
        mails = [_fetched(meta, body, max_message_bytes) for meta, body in _fetch_records(data)]
        return sorted((mail for mail in mails if mail is not None), key=lambda mail: mail.uid)

    def header_block(self, uid: int) -> bytes:
        """One message's header section (BODY.PEEK[HEADER]), or b"" when it is gone."""
        with self._talking("fetch a message's headers"):
            status, data = self.conn.uid("FETCH", str(uid), "(UID BODY.PEEK[HEADER])")
        if status != "OK":
            return b""
        return next((body for _meta, body in _fetch_records(data)), b"")

    # --- waiting -----------------------------------------------------------------------------------

    def wait_for_mail(self, seconds: float, *, poll_seconds: float = POLL_SECONDS) -> bool:
        """Wait up to `seconds` for new mail in the open folder: IDLE when offered, else a NOOP now and then."""
        if seconds <= 0:
            return False
        if "IDLE" in self.capabilities:
            return self._idle(seconds)
        return self._poll(seconds, poll_seconds)

    def _idle(self, seconds: float) -> bool:
        """RFC 2177 on the raw socket (see the module docstring); True when the server announced new mail."""
        sock = self.conn.socket()
        tag = f"CMNA{next(_idle_tags)}".encode()
        lines = _LineReader(sock)
        with self._talking("wait for new mail"):
            self.conn.send(tag + b" IDLE\r\n")
            answer = lines.readline(self.timeout)
            if answer is None or not answer.startswith(b"+"):
                raise TransientError(f"the IMAP server did not start IDLE: {_reason(answer or b'no answer')}")
            woke = self._idle_until(lines, time.monotonic() + seconds)
            self.conn.send(b"DONE\r\n")
            woke = self._idle_done(lines, tag) or woke
        return woke

    def _idle_until(self, lines: _LineReader, deadline: float) -> bool:
        while (remaining := deadline - time.monotonic()) > 0:
            line = lines.readline(remaining)
            if line is None:
                return False
            if _announces_mail(line):
                return True
            if line.startswith(b"* BYE"):
                raise TransientError(f"the IMAP server ended the connection: {_reason(line)}")
        return False

    def _idle_done(self, lines: _LineReader, tag: bytes) -> bool:
        woke = False
        while True:
            line = lines.readline(self.timeout)
            if line is None:
                raise TransientError(f"the IMAP server did not end IDLE within {self.timeout:g} s")
            woke = woke or _announces_mail(line)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1 :].startswith(b"OK"):
                    raise TransientError(f"the IMAP server refused IDLE: {_reason(line)}")
                return woke

    def _poll(self, seconds: float, poll_seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(poll_seconds, remaining))
            with self._talking("check for new mail"):
                self.conn.noop()
                exists = _first_int(self.conn.response("EXISTS")[1])
            if exists is not None and exists > self._exists:
                self._exists = exists
                return True
        return False


class _LineReader:
    """CRLF-terminated lines straight from the socket, with a timeout per line that may simply expire."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def readline(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._readable(remaining):
                return None
            chunk = self._sock.recv(65536)
            if not chunk:
                raise TransientError("the IMAP server closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.rstrip(b"\r")

    def _readable(self, timeout: float) -> bool:
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return True  # decrypted bytes already waiting: select() would not see them
        readable, _w, _x = select.select([self._sock], [], [], timeout)
        return bool(readable)


def _announces_mail(line: bytes) -> bool:
    return line.startswith(b"* ") and line.upper().rstrip().endswith((b" EXISTS", b" RECENT"))


# --- responses ---------------------------------------------------------------------------------------


def _fetch_records(data: list[Any]) -> Iterator[tuple[bytes, bytes]]:
    """imaplib's FETCH answer → (everything but the literal, the literal) per message."""
    meta, body = b"", b""
    started = False
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and _FETCH_START.match(item[0]):
            if started:
                yield meta, body
            meta, body, started = item[0], item[1], True
        elif isinstance(item, tuple) and len(item) == 2:
            meta += item[0]
        elif isinstance(item, bytes):
            meta += b" " + item
    if started:
        yield meta, body


def _fetched(meta: bytes, body: bytes, max_message_bytes: int) -> FetchedMail | None:
    uid = _UID.search(meta)
    if uid is None or not body:
        return None  # expunged meanwhile
    size_match = _SIZE.search(meta)
    size = int(size_match.group(1)) if size_match else len(body)
    return FetchedMail(
        uid=int(uid.group(1)),
        raw=body,
        internal_date=parse_internaldate(meta),
        size=size,
        truncated=size > max_message_bytes and len(body) < size,
    )


def parse_internaldate(meta: bytes) -> datetime | None:
    """INTERNALDATE "02-Mar-2026 09:14:07 +0100" → an aware datetime (imaplib's helper gives local time)."""
    match = _INTERNALDATE.search(meta)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1).decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def _first_int(data: list[Any] | None) -> int | None:
    for item in data or []:
        token = item.split()[0] if isinstance(item, bytes) and item.split() else b""
        if token.isdigit():
            return int(token)
    return None


def _reason(value: object) -> str:
    """The server's words from an imaplib error or answer, as text."""
    if isinstance(value, OSError):
        return str(value) or type(value).__name__  # "[Errno 111] Connection refused", "timed out"
    if isinstance(value, BaseException) and value.args:
        value = value.args[0]
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() or "no reason given"


def uid_set(uids: list[int]) -> str:
    """1,2,3,7 → "1:3,7": short commands for long batches."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(ranges)


# --- folder names: modified UTF-7 (RFC 3501 §5.1.3) ---------------------------------------------------


def encode_folder(name: str) -> str:
    """A folder name as IMAP writes it: printable ASCII as is ("&" as "&-"), the rest as &base64-."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_folder(name: str) -> str:
    """The inverse of encode_folder; a malformed sequence is kept as it is."""

    def decode(match: re.Match[str]) -> str:
        encoded = match.group(1)
        if not encoded:
            return "&"
        try:
            data = base64.b64decode(encoded.replace(",", "/") + "=" * (-len(encoded) % 4))
            return data.decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def quote(value: str) -> str:
    """An IMAP quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
