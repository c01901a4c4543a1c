"""The stored IRC payload: one line as received, and what the connection knew when it arrived.

IRC lines say little about their context, and `normalize` must stay pure, so the client adds what it knew:

- `line`: the line as received (tags, source, command, parameters), without CR LF;
- `encoding`: "utf-8", or "latin-1" when the bytes were not valid UTF-8 (`line` then holds each byte as
  one character, so the exact bytes are kept; see protocol.readable_text for how they are shown);
- `received_at`: when Communa read it (ISO 8601, UTC); the IRCv3 `time` tag, when present, wins;
- `network`: the server's host name as configured: identities are scoped by it ("irc:<network>");
- `bot_nick`: the bot's nick at that moment (to recognise its own messages);
- `account`: the services account of the person the line is about (the sender; for KICK, the member
  kicked) when the server tells (account-tag, extended-join, account-notify, WHOX), else "";
- `channels`: the configured channels the line concerns: its target, or for QUIT and NICK (which name no
  channel) every configured channel the person was in;
- `casemapping`: the server's CASEMAPPING, to compare nicks and channels as it does.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IrcPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    line: str
    encoding: str = "utf-8"
    received_at: datetime
    network: str
    bot_nick: str = ""
    account: str = ""
    channels: list[str] = Field(default_factory=list)
    casemapping: str = "rfc1459"
