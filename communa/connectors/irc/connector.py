"""IRC (and Twitch chat): a bot connection reads channels live, replies, and moderates as channel operator.

Reading. IRC has no history: what is said is heard by whoever is connected at the time. So the connection
is not the connector object's (the listener builds a new one for every fetch) but the worker process's:
`registry.client_for` keeps one `IrcClient` per source, whose thread stays connected and buffers what
happens in the configured channels. `fetch` waits a few seconds for that buffer and returns it; the cursor
it returns acknowledges those events on the next fetch, once the ingest has committed them.

Writing. `reply` posts to the channel, addressed to the person answered ("alice: ...", the IRC convention),
split into lines that fit the protocol's 512 bytes, at the configured flood rate, and confirmed by the
server (see IrcClient.execute). IRC has no idempotency of its own: the client remembers the idempotency
keys of the last hour's writes, so a retried call does not post twice (unless the worker restarted in
between). Moderation (moderation.py) kicks, bans, unbans, mutes and unmutes as a channel operator.
"""

from __future__ import annotations

import re
from typing import Any

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
from communa.connectors.irc import moderation, registry
from communa.connectors.irc.client import ClientSettings, Collector, ConnectionLost, IrcClient
from communa.connectors.irc.normalize import event_id, nick_of, normalize_line
from communa.connectors.irc.protocol import format_line, message_budget, parse_line, split_message
from communa.connectors.irc.schemas import IrcPayload
from communa.core.http import NotSentError, PermanentError, TransientError

HOST = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$")
NICK = re.compile(r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}$")
CHANNEL = re.compile(r"^[#&+!][^\s,\x07]{1,199}$")
USERNAME = re.compile(r"^[^\s@!]{1,10}$")


class IrcConfig(ConnectorConfig):
    host: str = Field(
        max_length=255,
        title=gettext_noop("Server"),
        description=gettext_noop("The IRC server's host name."),
        examples=["irc.libera.chat"],
    )
    port: int = Field(
        default=6697,
        ge=1,
        le=65535,
        title=gettext_noop("Port"),
        description=gettext_noop("6697 is the usual TLS port, 6667 plain text."),
    )
    tls: bool = Field(
        default=True,
        title=gettext_noop("Use TLS"),
        description=gettext_noop("Connect with TLS (recommended; most networks require it)."),
    )
    verify_certificate: bool = Field(
        default=True,
        title=gettext_noop("Check the certificate"),
        description=gettext_noop("Check the server's TLS certificate. Turn off only for a self-signed test server."),
    )
    nick: str = Field(
        max_length=30,
        title=gettext_noop("Nick"),
        description=gettext_noop("The name the bot appears under in the channels."),
        examples=["communa-bot"],
    )
    username: str = Field(
        default="",
        max_length=10,
        title=gettext_noop("User name (ident)"),
        description=gettext_noop("The user name (ident); the nick when empty."),
    )
    realname: str = Field(
        default="Communa",
        max_length=100,
        title=gettext_noop("Real name"),
        description=gettext_noop("The real name shown in WHOIS."),
    )
    password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("Server password"),
        description=gettext_noop("Only if the server asks for one (Twitch: oauth:<token>)."),
    )
    sasl_account: str = Field(
        default="",
        max_length=100,
        title=gettext_noop("SASL account"),
        description=gettext_noop("The bot's services account, to log in with SASL (recommended)."),
    )
    sasl_password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("SASL password"),
        description=gettext_noop("The password of that account."),
    )
    nickserv_password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("NickServ password"),
        description=gettext_noop("Instead of SASL: a password sent to NickServ (IDENTIFY) after connecting."),
    )
    channels: list[str] = Field(
        min_length=1,
        max_length=100,
        title=gettext_noop("Channels"),
        description=gettext_noop(
            "Channels to follow, one per line, with the key after a space if the channel has one."
        ),
        examples=["#community", "#staff secretkey"],
    )
    # IRC servers disconnect clients that send too fast: a bucket of flood_messages, refilled over flood_seconds.
    flood_messages: int = Field(
        default=4,
        ge=1,
        le=100,
        title=gettext_noop("Send limit (messages)"),
        description=gettext_noop(
            "How many messages the bot may send in a row; servers disconnect clients that send too fast."
        ),
    )
    flood_seconds: int = Field(
        default=8,
        ge=1,
        le=600,
        title=gettext_noop("Send limit (seconds)"),
        description=gettext_noop("After a burst, the bot sends no more than that many messages in this many seconds."),
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOST.match(value):
            raise ValueError(gettext("enter a host name like irc.libera.chat, without irc:// or a port"))
        return value.lower()

    @field_validator("nick")
    @classmethod
    def _nick(cls, value: str) -> str:
        if not NICK.match(value):
            raise ValueError(gettext("a nick is letters, digits and []\\`_^{|}-, not starting with a digit or -"))
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if value and not USERNAME.match(value):
            raise ValueError(gettext("a user name is up to 10 characters, without spaces, @ or !"))
        return value

    @field_validator("realname")
    @classmethod
    def _realname(cls, value: str) -> str:
        if any(char in value for char in "\r\n\0"):
            raise ValueError(gettext("the real name must be on one line"))
        return value or "Communa"

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        entries = list(dict.fromkeys(" ".join(entry.split()) for entry in value if entry.strip()))
        wrong = [entry for entry in entries if not _valid_channel_entry(entry)]
        if wrong:
            raise ValueError(
                gettext("not a channel (#name, optionally followed by its key): %(channels)s")
                % {"channels": ", ".join(wrong)}
            )
        if not entries:
            raise ValueError(gettext("list at least one channel"))
        return entries

    @model_validator(mode="after")
    def _credentials(self) -> IrcConfig:
        if self.sasl_account and not _secret(self.sasl_password):
            raise ValueError(gettext("give the password of the SASL account"))
        if _secret(self.sasl_password) and not self.sasl_account:
            raise ValueError(gettext("give the SASL account the password belongs to"))
        if self.sasl_account and _secret(self.nickserv_password):
            raise ValueError(gettext("log in with SASL or with NickServ, not both"))
        return self

    def channel_keys(self) -> tuple[tuple[str, str], ...]:
        pairs = [entry.partition(" ") for entry in self.channels]
        return tuple((channel, key) for channel, _, key in pairs)


def _valid_channel_entry(entry: str) -> bool:
    channel, _, key = entry.partition(" ")
    return bool(CHANNEL.match(channel)) and (not key or (" " not in key and "," not in key))


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class IrcConnector(Connector):
    kind = "irc"
    label = _("IRC channels")
    description = _("Follow IRC channels (or Twitch chat) live through a bot; reply, kick, ban, mute.")
    capabilities = frozenset({Capability.STREAM, Capability.REPLY, Capability.MODERATE})
    moderation_actions = frozenset(
        {
            ModerationAction.KICK,
            ModerationAction.BAN,
            ModerationAction.UNBAN,
            ModerationAction.MUTE,
            ModerationAction.UNMUTE,
        }
    )
    Config = IrcConfig
    docs_page = "connectors/irc.md"

    config: IrcConfig

    fetch_wait = 5.0  # seconds a fetch waits for something to be said
    write_timeout = 20.0  # seconds a write waits for the server's confirmation

    # --- reading ---------------------------------------------------------------------------------------

    def fetch(self, cursor: dict[str, Any]) -> FetchResult:
        """Wait briefly for what was said in the channels; acknowledge what `cursor` says was stored."""
        client = self._client()
        payloads, next_cursor = client.take(cursor, wait=self.fetch_wait)
        if not payloads:
            self._raise_if_down(client)
        items = [RawItem(external_id=event_id(IrcPayload.model_validate(p)), payload=p) for p in payloads]
        return FetchResult(items=items, cursor=next_cursor)

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        return normalize_line(item.payload)

    # --- writing ---------------------------------------------------------------------------------------

    def reply(self, *, target: ReplyTarget, text: str, idempotency_key: str) -> SendResult:
        """Post `text` in the channel, addressed to the author of the message answered."""
        if not text.strip():
            raise ValueError("a reply needs text")
        client = self._client()
        with client.write_lock:
            sent = client.remembered(idempotency_key)
            if sent is None:
                sent = self._post(client, target.channel, _addressed(target, text))
                client.remember(idempotency_key, sent)
        return SendResult(external_id=event_id(IrcPayload.model_validate(sent[0])))

    def moderate(
        self, *, action: ModerationAction, target: ModerationTarget, reason: str = "", idempotency_key: str
    ) -> SendResult:
        """Apply `action` in `target.channel` as channel operator; see moderation.py."""
        if not self.can_moderate(action):
            raise PermanentError(f"IRC cannot {action.value.replace('_', ' ')}")
        client = self._client()
        with client.write_lock:
            if client.remembered(idempotency_key) is None:
                moderation.apply(client, action, target, reason=reason)
                client.remember(idempotency_key, [])
        return SendResult()

    def _post(self, client: IrcClient, channel: str, text: str) -> list[dict[str, Any]]:
        if not client.wait_registered(self.write_timeout):
            # Nothing was written: the outbox may send it once the connection is back.
            raise NotSentError(client.last_error or f"not connected to {client.settings.address} yet")
        budget = message_budget(nick=client.nick, userhost=client.userhost, command="PRIVMSG", target=channel)
        lines = [format_line("PRIVMSG", channel, piece) for piece in split_message(text, budget)]
        try:
            answer = client.execute(lines, timeout=self.write_timeout + len(lines) * self.config.flood_seconds)
        except ConnectionLost as exc:
            raise TransientError(f"could not post in {channel}: {exc}") from exc
        _raise_refusal(client, channel, answer)
        if "echo-message" in client.caps:
            echoed = [p for p in answer.payloads if _is_own_message(client, p)]
            if echoed:
                return echoed
        return [client.record_own_message(line) for line in lines]

    # --- the connection --------------------------------------------------------------------------------

    def _client(self) -> IrcClient:
        key = self.source_key or f"{self.config.host}:{self.config.port}/{self.config.nick}"
        client = registry.client_for(key, self.client_settings())
        if client.failure:
            registry.forget(key, client)
            raise PermanentError(client.failure)
        return client

    def _raise_if_down(self, client: IrcClient) -> None:
        if client.failure:
            self._client()  # forgets it and raises the failure
        if not client.registered.is_set() and client.last_error:
            raise TransientError(f"not connected to IRC: {client.last_error}; reconnecting")

    def client_settings(self) -> ClientSettings:
        config = self.config
        return ClientSettings(
            host=config.host,
            port=config.port,
            tls=config.tls,
            verify_tls=config.verify_certificate,
            nick=config.nick,
            username=config.username or config.nick[:10],
            realname=config.realname,
            channels=config.channel_keys(),
            flood_messages=config.flood_messages,
            flood_seconds=float(config.flood_seconds),
            password=_secret(config.password),
            sasl_account=config.sasl_account,
            sasl_password=_secret(config.sasl_password),
            nickserv_password=_secret(config.nickserv_password),
        )


def _addressed(target: ReplyTarget, text: str) -> str:
    """ "alice: text" when the message answered has a known author, the way IRC users address each other."""
    nick = nick_of(target.message_external_id)
    return f"{nick}: {text.strip()}" if nick else text.strip()


def _is_own_message(client: IrcClient, payload: dict[str, Any]) -> bool:
    line = parse_line(str(payload.get("line", "")))
    return line.command == "PRIVMSG" and client.casefold(line.nick) == client.casefold(client.nick)


def _raise_refusal(client: IrcClient, channel: str, answer: Collector) -> None:
    refusal = moderation.first_refusal(client, channel, answer)
    if refusal is None:
        return
    code, text = refusal
    if code == "404":
        raise PermanentError(f"the server does not let the bot post in {channel}: {text} (404)")
    raise PermanentError(f"could not post in {channel}: {text} ({code})")
