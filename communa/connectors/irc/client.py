"""A persistent IRC connection on its own thread: register, join, stay connected, buffer what is said.

Why a small client of our own rather than a library: the `irc` package (the well-kept one on PyPI) has no
CAP negotiation, SASL or message tags built in, and its reactor wants to own the loop; what Communa needs
(IRCv3 capabilities, SASL PLAIN, confirmed writes, an acknowledged buffer for at-least-once ingest) is a
few hundred lines on `socket` and `ssl`, all of it tested against a real server.

One `IrcClient` per source lives in the worker process (see `registry.py`). Its thread owns the socket:

- connect (TLS when configured), register (`CAP LS 302` → REQ of the capabilities Communa uses that the
  server offers → SASL PLAIN when configured → `CAP END`; PASS, NICK, USER), identify to NickServ when
  configured, join the channels (with their keys), answer PINGs and send its own when the line is quiet;
- on a lost connection, reconnect after an exponential backoff with jitter (1 s doubling up to 5 min);
  a refusal that retrying cannot fix (server password, SASL, a ban) stops the client with `failure` set;
- every channel event (messages, joins, parts, quits, kicks, nick changes) becomes a payload in a bounded
  buffer. `take` hands out what is buffered and drops only what the caller acknowledges with the cursor of
  a previous `take`, which the ingest saves after committing: a crash between the two replays, never loses.

Writes (`execute`) send their lines through the flood-control bucket and then a PING, and collect what the
server answers until the matching PONG. A server handles one client's commands in order, so any refusal
(`482 You're not channel operator`) or echo of our own message has arrived by then: a write is confirmed,
or fails with the server's reason.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import itertools
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from communa.connectors.irc.flood import TokenBucket
from communa.connectors.irc.protocol import (
    Line,
    MalformedLine,
    casefold,
    decode_wire,
    format_line,
    parse_line,
)

logger = logging.getLogger(__name__)

# The IRCv3 capabilities Communa asks for, when the server offers them.
WANTED_CAPS = frozenset(
    {
        "twitch.tv/tags",  # Twitch: its tags (display-name, reply-parent-...), and
        "twitch.tv/membership",  # its JOIN and PART lines
        "server-time",  # the server's time on every message (the moment said, not the moment read)
        "message-tags",  # msgid: the server's own id for each message
        "account-tag",  # who is logged in as which account, on every message
        "extended-join",  # ... and on every join
        "account-notify",  # ... and when it changes
        "echo-message",  # our own messages come back with their msgid: replies are confirmed
        "multi-prefix",  # all of a member's status prefixes in NAMES (@+alice)
    }
)
# How services word a wrong IDENTIFY password (Anope: "Password incorrect.", Atheme: "Invalid password for x.").
NICKSERV_REFUSALS = ("password incorrect", "invalid password")
CHANNEL_EVENTS = frozenset({"PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "KICK", "NICK"})

CONNECT_TIMEOUT = 15.0
REGISTRATION_TIMEOUT = 30.0
READ_TICK = 0.5  # how often the reading thread looks up from the socket (stop, keepalive, idle)
PING_AFTER = 60.0  # seconds of silence before we ask the server whether it is still there
DEAD_AFTER = 120.0  # seconds of silence after which the connection is given up as lost
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 300.0
STABLE_AFTER = 60.0  # a connection that lasted this long resets the backoff
REJOIN_DELAY = 3.0  # after being kicked
REGAIN_EVERY = 60.0  # with an alternative nick, how often to try for the configured one again
BUFFER_LIMIT = 10_000  # events kept for the next fetch; beyond it the oldest are dropped (and logged)
TAKE_LIMIT = 500  # events handed out per take
SENT_WINDOW = 3600.0  # how long an idempotency key is remembered


class IrcFailure(Exception):
    """A refusal that retrying will not fix (bad server password, SASL failure, banned): stops the client."""


class ConnectionLost(Exception):
    """The connection failed or closed; the client reconnects after a pause."""


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """Everything a connection depends on; a change of any field means a new connection."""

    host: str
    port: int
    tls: bool
    verify_tls: bool
    nick: str
    username: str
    realname: str
    channels: tuple[tuple[str, str], ...]  # (channel, key) pairs, key "" when none
    flood_messages: int
    flood_seconds: float
    password: str = dataclasses.field(default="", repr=False)
    sasl_account: str = ""
    sasl_password: str = dataclasses.field(default="", repr=False)
    nickserv_password: str = dataclasses.field(default="", repr=False)
    idle_seconds: float = 300.0  # the client stops itself when nobody used it for this long

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass
class Member:
    nick: str
    account: str = ""  # "" when not logged in, or unknown
    userhost: str = ""


@dataclasses.dataclass
class Buffered:
    seq: int
    payload: dict[str, Any]


class Collector:
    """Lines received while a write waits for its PONG."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lines: list[Line] = []
        self.done = threading.Event()
        self.answered = False  # the PONG came (rather than the connection ending)
        self.payloads: list[dict[str, Any]] = []  # the channel events among them, as buffered


class IrcClient:
    """One connection to one server for one source; see the module docstring."""

    def __init__(self, settings: ClientSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.session = uuid.uuid4().hex  # cursors from another client (another process) acknowledge nothing
        self._clock = clock
        self._bucket = TokenBucket(capacity=settings.flood_messages, interval=settings.flood_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"irc-{settings.address}", daemon=True)
        self._sock: socket.socket | ssl.SSLSocket | None = None
        self._send_lock = threading.Lock()
        self._buffer: collections.deque[Buffered] = collections.deque()
        self._buffer_changed = threading.Condition()
        self._seq = itertools.count(1)
        self._collectors: dict[str, Collector] = {}
        self._tokens = itertools.count(1)
        self._write_lock = threading.Lock()
        self._sent: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._last_used = clock()
        self._keys = {casefold(channel): key for channel, key in settings.channels}
        # Connection state, reset on every connect.
        self.registered = threading.Event()
        self.nick = settings.nick
        self.userhost = ""
        self.caps: set[str] = set()
        self.isupport: dict[str, str] = {}
        self.members: dict[str, dict[str, Member]] = {}  # folded channel → folded nick → member
        self.failure = ""  # set when the client gave up for good
        self.last_error = ""  # the latest connection problem, cleared once registered
        self.dropped = 0  # events lost to a full buffer
        self._offered_caps: set[str] = set()
        self._nick_attempt = 0
        self._connected_at = clock()
        self._regain_at = clock()

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        self._close(quit_message="Communa is stopping")
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def touch(self) -> None:
        self._last_used = self._clock()

    def casefold(self, name: str) -> str:
        return casefold(name, self.isupport.get("CASEMAPPING", "rfc1459"))

    @property
    def channels(self) -> list[str]:
        return [channel for channel, _ in self.settings.channels]

    def wait_registered(self, timeout: float) -> bool:
        return self.registered.wait(timeout)

    # --- reading: the buffer ---------------------------------------------------------------------------

    def take(self, cursor: dict[str, Any], *, wait: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Drop what `cursor` acknowledges; wait up to `wait` s for events; return them and their cursor.

        The events stay buffered until a later call acknowledges them with the returned cursor.
        """
        self.touch()
        acknowledged = cursor.get("seq") if cursor.get("session") == self.session else None
        with self._buffer_changed:
            if isinstance(acknowledged, int):
                while self._buffer and self._buffer[0].seq <= acknowledged:
                    self._buffer.popleft()
            if not self._buffer:
                self._buffer_changed.wait_for(lambda: bool(self._buffer) or not self.alive, timeout=wait)
            batch = list(itertools.islice(self._buffer, TAKE_LIMIT))
        last = batch[-1].seq if batch else acknowledged if isinstance(acknowledged, int) else 0
        return [item.payload for item in batch], {"session": self.session, "seq": last}

    def _buffer_event(self, payload: dict[str, Any]) -> None:
        with self._buffer_changed:
            if len(self._buffer) >= BUFFER_LIMIT:
                self._buffer.popleft()
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    logger.warning("irc %s: buffer full, %d events dropped so far", self.settings.address, self.dropped)
            self._buffer.append(Buffered(next(self._seq), payload))
            self._buffer_changed.notify_all()

    # --- writing ---------------------------------------------------------------------------------------

    def execute(self, lines: Iterable[str], *, timeout: float = 20.0) -> Collector:
        """Send `lines` (flood-controlled), then a PING; return everything received until its PONG.

        Raises ConnectionLost when not registered, or when the PONG does not come in time.
        """
        self.touch()
        if not self.registered.wait(min(timeout, REGISTRATION_TIMEOUT)):
            raise ConnectionLost(self.last_error or f"not connected to {self.settings.address} yet")
        deadline = self._clock() + timeout
        token = f"communa-{next(self._tokens)}"
        collector = Collector(token)
        self._collectors[token] = collector
        try:
            for line in lines:
                if not self._bucket.take(deadline=deadline):
                    raise ConnectionLost("the flood limit leaves no room to send in time")
                self._send(line)
            self._send(format_line("PING", token))
            collector.done.wait(max(0.0, deadline - self._clock()))
            if not collector.answered:
                raise ConnectionLost(self.failure or f"{self.settings.address} did not answer in {timeout:.0f} s")
        finally:
            self._collectors.pop(token, None)
        return collector

    def remembered(self, key: str) -> list[dict[str, Any]] | None:
        """What a write with this idempotency key sent, if it happened within the window."""
        now = self._clock()
        for old in [k for k, (at, _) in self._sent.items() if now - at > SENT_WINDOW]:
            del self._sent[old]
        entry = self._sent.get(key)
        return entry[1] if entry else None

    def remember(self, key: str, sent: list[dict[str, Any]]) -> None:
        self._sent[key] = (self._clock(), sent)

    @property
    def write_lock(self) -> threading.Lock:
        """Held by a write from its idempotency check to `remember`, so that a concurrent retry waits."""
        return self._write_lock

    def record_own_message(self, line: str) -> dict[str, Any]:
        """Without echo-message the server never shows us our own message: buffer it as if it had."""
        source = f"{self.nick}!{self.userhost}" if self.userhost else self.nick
        payload = self._payload(f":{source} {line}", "utf-8", parse_line(f":{source} {line}"), self._channel_of(line))
        self._buffer_event(payload)
        return payload

    def member_nicks(self, channel: str, *, nick: str = "", account: str = "") -> list[str]:
        """Current nicks in `channel` of the member known by `nick`, or of everyone logged in as `account`."""
        # A copy: the connection thread changes these lists while a writer reads them.
        members = dict(self.members.get(self.casefold(channel), {}))
        if account:
            folded = self.casefold(account)
            return [m.nick for m in members.values() if m.account and self.casefold(m.account) == folded]
        member = members.get(self.casefold(nick))
        return [member.nick] if member else []

    # --- the connection thread -------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            started = self._clock()
            try:
                self._connect_and_serve()
            except IrcFailure as exc:
                self.failure = str(exc)
                logger.warning("irc %s: giving up: %s", self.settings.address, exc)
                break
            except (ConnectionLost, OSError) as exc:
                if self._stop.is_set():
                    break  # stop() closed the socket under the reading thread: not a failure
                self.last_error = _describe(exc, self.settings)
                if isinstance(exc, ssl.SSLCertVerificationError):
                    self.failure = self.last_error
                    break
                logger.info("irc %s: %s", self.settings.address, self.last_error)
            finally:
                self._close(quit_message="Communa is stopping" if self._stop.is_set() else "")
            if self._stop.is_set() or self._idle():
                break
            attempt = 0 if self._clock() - started >= STABLE_AFTER else attempt + 1
            self._stop.wait(backoff(attempt))
        self._stop.set()
        self.registered.clear()
        for collector in list(self._collectors.values()):
            collector.done.set()  # waiting writers fail now instead of at their timeout
        with self._buffer_changed:
            self._buffer_changed.notify_all()

    def _idle(self) -> bool:
        return self._clock() - self._last_used > self.settings.idle_seconds

    def _connect_and_serve(self) -> None:
        self._reset_state()
        self._sock = self._open_socket()
        self._register()
        pending = b""
        last_heard = self._clock()
        pinged = False
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                data = None
            now = self._clock()
            if data == b"":
                raise ConnectionLost(f"{self.settings.address} closed the connection")
            if data:
                last_heard, pinged = now, False
                pending = self._feed(pending + data)
            elif now - last_heard > DEAD_AFTER:
                raise ConnectionLost(f"{self.settings.address} stopped answering")
            elif now - last_heard > PING_AFTER and not pinged:
                self._send(format_line("PING", "communa-keepalive"))
                pinged = True
            if not self.registered.is_set() and now - self._connected_at > REGISTRATION_TIMEOUT:
                raise ConnectionLost(f"{self.settings.address} did not complete the registration")
            if self._idle():
                self._stop.set()
            elif self.registered.is_set() and self.nick != self.settings.nick and now >= self._regain_at:
                self._regain_at = now + REGAIN_EVERY
                self._send(format_line("NICK", self.settings.nick))

    def _open_socket(self) -> socket.socket | ssl.SSLSocket:
        settings = self.settings
        sock = socket.create_connection((settings.host, settings.port), timeout=CONNECT_TIMEOUT)
        try:
            if settings.tls:
                context = ssl.create_default_context()
                if not settings.verify_tls:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=settings.host)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(READ_TICK)
        self._connected_at = self._clock()
        return sock

    def _reset_state(self) -> None:
        self.registered.clear()
        self.nick = self.settings.nick
        self.userhost = ""
        self.caps = set()
        self.isupport = {}
        self.members = {}
        self._offered_caps = set()
        self._nick_attempt = 0
        self._connected_at = self._clock()
        self._regain_at = self._clock() + REGAIN_EVERY

    def _close(self, quit_message: str = "") -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if quit_message and self.registered.is_set():
            with contextlib.suppress(OSError):
                self._send_on(sock, format_line("QUIT", quit_message))
        self.registered.clear()
        with contextlib.suppress(OSError):
            sock.close()

    def _send(self, line: str) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionLost(f"not connected to {self.settings.address}")
        self._send_on(sock, line)

    def _send_on(self, sock: socket.socket | ssl.SSLSocket, line: str) -> None:
        data = line.encode("utf-8") + b"\r\n"
        with self._send_lock:
            sock.sendall(data)

    def _feed(self, data: bytes) -> bytes:
        """Handle every complete line in `data`; return the incomplete rest."""
        *complete, rest = data.split(b"\n")
        for raw in complete:
            raw = raw.rstrip(b"\r")
            if raw:
                self._handle_raw(raw)
        if len(rest) > 65536:  # no line is that long: a broken server, do not grow without bound
            raise ConnectionLost(f"{self.settings.address} sent a line longer than 64 KiB")
        return rest

    def _handle_raw(self, raw: bytes) -> None:
        text, encoding = decode_wire(raw)
        try:
            line = parse_line(text)
        except MalformedLine:
            logger.debug("irc %s: ignoring malformed line %r", self.settings.address, text)
            return
        for collector in list(self._collectors.values()):
            collector.lines.append(line)
            if line.command == "PONG" and line.params and line.params[-1] == collector.token:
                collector.answered = True
                collector.done.set()
        self._handle(line, text, encoding)

    # --- registration ----------------------------------------------------------------------------------

    def _register(self) -> None:
        settings = self.settings
        self._send(format_line("CAP", "LS", "302"))
        if settings.password:
            self._send(format_line("PASS", settings.password))
        self._send(format_line("NICK", settings.nick))
        self._send(format_line("USER", settings.username, "0", "*", settings.realname))

    def _on_cap(self, line: Line) -> None:
        subcommand = line.param(1).upper()
        if subcommand == "LS":
            more = line.param(2) == "*"
            self._offered_caps |= {cap.split("=", 1)[0] for cap in line.params[-1].split()}
            if not more:
                self._request_caps()
        elif subcommand == "ACK":
            self.caps |= {cap.lstrip("-") for cap in line.params[-1].split() if not cap.startswith("-")}
            if not self.registered.is_set():
                self._after_caps()
        elif subcommand == "NAK" and not self.registered.is_set():
            self._after_caps()

    def _request_caps(self) -> None:
        wanted = WANTED_CAPS | ({"sasl"} if self.settings.sasl_account else set())
        if self.settings.sasl_account and "sasl" not in self._offered_caps:
            raise IrcFailure(
                f"{self.settings.address} does not offer SASL: remove the SASL account from the source,"
                " or log in with a NickServ password instead"
            )
        request = sorted(wanted & self._offered_caps)
        if request:
            self._send(format_line("CAP", "REQ", " ".join(request)))
        else:
            self._send(format_line("CAP", "END"))

    def _after_caps(self) -> None:
        if "sasl" in self.caps:
            self._send(format_line("AUTHENTICATE", "PLAIN"))
        else:
            self._send(format_line("CAP", "END"))

    def _on_authenticate(self, line: Line) -> None:
        if line.param(0) != "+":
            return
        settings = self.settings
        blob = f"{settings.sasl_account}\0{settings.sasl_account}\0{settings.sasl_password}".encode()
        encoded = base64.b64encode(blob).decode()
        chunks = [encoded[i : i + 400] for i in range(0, len(encoded), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")  # a payload of exactly 400n characters is closed by an empty chunk
        for chunk in chunks:
            self._send(format_line("AUTHENTICATE", chunk))

    def _on_nick_in_use(self, line: Line) -> None:
        """Before registration, take an alternative nick (communa_, communa__, communa1, ...)."""
        if self.registered.is_set():
            return  # our attempt to get the configured nick back failed: keep the current one
        self._nick_attempt += 1
        if self._nick_attempt > 9:
            raise ConnectionLost(f"every alternative to the nick {self.settings.nick} is taken")
        base = self.settings.nick
        self.nick = base + "_" * self._nick_attempt if self._nick_attempt <= 2 else f"{base}{self._nick_attempt}"
        self._send(format_line("NICK", self.nick))

    def _on_welcome(self, line: Line) -> None:
        self.nick = line.param(0) or self.nick
        welcome = line.params[-1] if line.params else ""
        mask = welcome.rsplit(" ", 1)[-1]
        if "!" in mask and "@" in mask:
            self.userhost = mask.split("!", 1)[1]
        if self.settings.nickserv_password:
            self._send(format_line("PRIVMSG", "NickServ", f"IDENTIFY {self.settings.nickserv_password}"))
        self._join_all()
        self.last_error = ""
        self.registered.set()

    def _join_all(self) -> None:
        keyed = [(channel, key) for channel, key in self.settings.channels if key]
        plain = [channel for channel, key in self.settings.channels if not key]
        if keyed:
            self._send(format_line("JOIN", ",".join(c for c, _ in keyed), ",".join(k for _, k in keyed)))
        if plain:
            self._send(format_line("JOIN", ",".join(plain)))

    # --- dispatch --------------------------------------------------------------------------------------

    def _handle(self, line: Line, text: str, encoding: str) -> None:
        command = line.command
        if command == "PING":
            self._send(format_line("PONG", *line.params[-1:]))
        elif command == "NOTICE" and self._is_nickserv_refusal(line):
            raise IrcFailure(f"NickServ refused the bot's password ({line.params[-1]}): check the NickServ password")
        elif command in CHANNEL_EVENTS:
            self._on_channel_event(line, text, encoding)
        elif command == "CAP":
            self._on_cap(line)
        elif command == "AUTHENTICATE":
            self._on_authenticate(line)
        elif command == "ERROR":
            self._on_error(line.param(0))
        elif command.isdigit():
            self._on_numeric(line)
        elif command == "ACCOUNT":
            self._set_account(line.nick, line.param(0))

    def _is_nickserv_refusal(self, line: Line) -> bool:
        """NickServ telling us the IDENTIFY password is wrong: without it the bot would silently stay logged out."""
        if not self.settings.nickserv_password or self.casefold(line.nick) != self.casefold("NickServ"):
            return False
        text = line.params[-1].lower() if line.params else ""
        return any(phrase in text for phrase in NICKSERV_REFUSALS)

    def _on_error(self, reason: str) -> None:
        """The server closes the link. Some reasons are final: a refused password, a server ban."""
        lowered = reason.lower()
        if any(word in lowered for word in SERVER_BANS):
            raise IrcFailure(f"the bot is banned from {self.settings.address}: {reason}")
        if not self.registered.is_set() and ("access denied" in lowered or "password" in lowered):
            hint = "check the server password of the source" if self.settings.password else "does it need a password?"
            raise IrcFailure(f"{self.settings.address} refused the connection ({reason}): {hint}")
        raise ConnectionLost(f"{self.settings.address} closed the connection: {reason}")

    def _on_numeric(self, line: Line) -> None:
        handler = self._numeric_handlers().get(line.command)
        if handler is not None:
            handler(line)
        elif line.command in FATAL_NUMERICS:
            raise IrcFailure(FATAL_NUMERICS[line.command].format(reason=line.params[-1] if line.params else ""))
        elif line.command in JOIN_REFUSALS:
            channel = line.param(1)
            folded = self.casefold(channel)
            if folded in self._keys and folded not in self.members:  # a JOIN of ours was refused
                raise IrcFailure(f"cannot join {channel}: {JOIN_REFUSALS[line.command]} ({line.params[-1]})")

    def _numeric_handlers(self) -> dict[str, Callable[[Line], None]]:
        return {
            "001": self._on_welcome,
            "005": self._on_isupport,
            "353": self._on_names,
            "354": self._on_whox,
            "396": self._on_host_hidden,
            "433": self._on_nick_in_use,
            "903": lambda line: self._send(format_line("CAP", "END")),
        }

    def _on_isupport(self, line: Line) -> None:
        for token in line.params[1:-1]:
            key, _, value = token.partition("=")
            if key.startswith("-"):
                self.isupport.pop(key[1:], None)
            else:
                self.isupport[key] = value

    def _on_host_hidden(self, line: Line) -> None:
        """396: the server (or services, after login) gave us a new visible host: it changes the line budget."""
        if self.userhost and line.param(1):
            self.userhost = f"{self.userhost.split('@', 1)[0]}@{line.param(1)}"

    # --- who is in which channel -----------------------------------------------------------------------

    def _on_names(self, line: Line) -> None:
        """353 RPL_NAMREPLY `bot = #chan :@alice +bob carol`: the members of a channel we joined."""
        channel = self.members.get(self.casefold(line.param(2)))
        if channel is None:
            return
        prefixes = self._status_prefixes()
        for entry in line.params[-1].split():
            nick_mask = entry.lstrip(prefixes)
            nick, _, userhost = nick_mask.partition("!")
            folded = self.casefold(nick)
            known = channel.get(folded)
            channel[folded] = Member(
                nick, known.account if known else "", userhost or (known.userhost if known else "")
            )

    def _on_whox(self, line: Line) -> None:
        """354 `bot 152 nick account` (our WHO #chan %tna,152): who is logged in as whom."""
        if line.param(1) != WHOX_TOKEN or len(line.params) < 4:
            return
        nick, account = line.param(2), line.param(3)
        self._set_account(nick, "" if account == "0" else account)

    def _set_account(self, nick: str, account: str) -> None:
        account = "" if account == "*" else account
        folded = self.casefold(nick)
        for channel in self.members.values():
            if folded in channel:
                channel[folded].account = account

    def _status_prefixes(self) -> str:
        prefix = self.isupport.get("PREFIX", "(ov)@+")
        return prefix.split(")", 1)[1] if ")" in prefix else "@+"

    def _subject_account(self, line: Line, channels: list[str]) -> str:
        """The account of the person `line` is about: the sender, or the member kicked."""
        if line.command == "KICK":
            kicked = self.members.get(self.casefold(line.param(0)), {}).get(self.casefold(line.param(1)))
            return kicked.account if kicked else ""
        if line.command == "JOIN" and "extended-join" in self.caps:
            return "" if line.param(1) == "*" else line.param(1)
        return self._account_of(line, channels)

    def _account_of(self, line: Line, channels: list[str]) -> str:
        if "account" in line.tags:
            return line.tags["account"]
        folded = self.casefold(line.nick)
        for channel in channels:
            member = self.members.get(self.casefold(channel), {}).get(folded)
            if member is not None and member.account:
                return member.account
        return ""

    def _channels_of(self, nick: str) -> list[str]:
        folded = self.casefold(nick)
        names = {self.casefold(c): c for c in self.channels}
        return [names.get(channel, channel) for channel, members in self.members.items() if folded in members]

    # --- channel events --------------------------------------------------------------------------------

    def _on_channel_event(self, line: Line, text: str, encoding: str) -> None:
        command = line.command
        if command in ("QUIT", "NICK"):
            channels = self._channels_of(line.nick)
        else:
            channels = [line.param(0)] if self.casefold(line.param(0)) in self._keys else []
        if channels:
            payload = self._payload(text, encoding, line, channels)
            self._buffer_event(payload)
            for collector in list(self._collectors.values()):
                collector.payloads.append(payload)
        self._track(line)

    def _payload(self, text: str, encoding: str, line: Line, channels: list[str]) -> dict[str, Any]:
        """What is stored for one line: the line itself, and what `normalize` cannot know from it alone."""
        return {
            "line": text,
            "encoding": encoding,
            "received_at": datetime.now(tz=UTC).isoformat(timespec="microseconds"),
            "network": self.settings.host.lower(),
            "bot_nick": self.nick,
            "account": self._subject_account(line, channels),
            "channels": channels,
            "casemapping": self.isupport.get("CASEMAPPING", "rfc1459"),
        }

    def _channel_of(self, line: str) -> list[str]:
        parts = line.split(" ", 2)
        return [parts[1]] if len(parts) > 1 else []

    def _track(self, line: Line) -> None:
        """Keep the member lists current (after the payload was built from the state before the change)."""
        command, nick = line.command, line.nick
        folded_nick = self.casefold(nick)
        is_me = folded_nick == self.casefold(self.nick)
        if command == "JOIN":
            self._on_join(line, is_me)
        elif command == "PART":
            self._leave(line.param(0), nick, is_me)
        elif command == "KICK":
            kicked = line.param(1)
            self._leave(line.param(0), kicked, self.casefold(kicked) == self.casefold(self.nick))
        elif command == "QUIT":
            for channel in self.members.values():
                channel.pop(folded_nick, None)
        elif command == "NICK":
            self._on_nick(line, is_me)

    def _on_join(self, line: Line, is_me: bool) -> None:
        folded_channel = self.casefold(line.param(0))
        if folded_channel not in self._keys:
            return
        if is_me:
            self.members[folded_channel] = {}
            self.userhost = line.userhost or self.userhost
            if "WHOX" in self.isupport and self.caps & {"account-notify", "extended-join", "account-tag"}:
                self._send(format_line("WHO", line.param(0), f"%tna,{WHOX_TOKEN}"))
        account = line.param(1) if "extended-join" in self.caps else line.tags.get("account", "")
        members = self.members.setdefault(folded_channel, {})
        members[self.casefold(line.nick)] = Member(line.nick, "" if account == "*" else account, line.userhost)

    def _leave(self, channel: str, nick: str, is_me: bool) -> None:
        folded_channel = self.casefold(channel)
        if is_me:
            self.members.pop(folded_channel, None)
            if folded_channel in self._keys and not self._stop.is_set():
                key = self._keys[folded_channel]
                timer = threading.Timer(REJOIN_DELAY, self._rejoin, args=(channel, key))
                timer.daemon = True
                timer.start()
            return
        self.members.get(folded_channel, {}).pop(self.casefold(nick), None)

    def _rejoin(self, channel: str, key: str) -> None:
        if self._stop.is_set() or not self.registered.is_set():
            return  # a reconnect joins every channel anyway
        with contextlib.suppress(ConnectionLost, OSError):
            self._send(format_line("JOIN", channel, key) if key else format_line("JOIN", channel))

    def _on_nick(self, line: Line, is_me: bool) -> None:
        new = line.param(0)
        if is_me:
            self.nick = new
        old_folded, new_folded = self.casefold(line.nick), self.casefold(new)
        for channel in self.members.values():
            member = channel.pop(old_folded, None)
            if member is not None:
                member.nick = new
                channel[new_folded] = member


WHOX_TOKEN = "152"  # noqa: S105 — a WHO query label, not a secret

FATAL_NUMERICS = {
    "464": "the server refused the server password (464: {reason}); check the password in the source",
    "465": "the bot is banned from this server (465: {reason})",
    "902": "SASL login failed: the account is locked (902: {reason})",
    "904": "SASL login failed (904: {reason}); check the SASL account and password",
    "905": "SASL login failed: the credentials are too long (905: {reason})",
    "908": "SASL login failed: the server does not accept PLAIN (908: {reason})",
}
# Words of ERROR lines that close the link for a server ban (K-, G-, Z-lines) on the usual servers.
SERVER_BANS = ("k-lined", "g-lined", "z-lined", "banned from this server", "you are banned")
JOIN_REFUSALS = {
    "403": "no such channel",
    "405": "the bot is in too many channels",
    "471": "the channel is full",
    "473": "the channel is invite-only: invite the bot, or add it to the channel's invite exceptions",
    "474": "the bot is banned from the channel",
    "475": "wrong channel key",
    "477": "the channel requires a registered account: give the bot a SASL account",
}


def backoff(attempt: int) -> float:
    """Seconds before reconnect attempt `attempt` (1, 2, ...): doubling from 1 s, capped at 5 min, ±50 % jitter."""
    if attempt <= 0:
        return BACKOFF_FIRST * random.uniform(0.5, 1.0)  # noqa: S311 — jitter, not cryptography
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** min(attempt, 20)) * random.uniform(0.5, 1.0)  # noqa: S311


def _describe(exc: BaseException, settings: ClientSettings) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the TLS certificate of {settings.address} is not trusted ({exc.verify_message}): fix the server's"
            " certificate, or turn off certificate verification for this source"
        )
    if isinstance(exc, ConnectionLost):
        return str(exc)
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {settings.host}: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{settings.address} refused the connection (is the port right, and the server up?)"
    if isinstance(exc, TimeoutError):
        return f"{settings.address} did not answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed with {settings.address}: {exc.reason or exc} (does this port speak TLS?)"
    return f"connection to {settings.address} failed: {exc}"
