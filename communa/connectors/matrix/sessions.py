"""Matrix sessions kept for the life of the process, one per bot account, shared by its connectors.

The worker's listener builds a new connector for every /sync (ingest.polling.poll_source builds one per
poll). If each one started afresh, every sync would build an HTTP client (its SSL context alone costs tens
of milliseconds of CPU), open a new connection, ask which rooms the bot is in (/joined_rooms) and, for a
bot configured with a password, log in again. bench/connectors.py measured that as about a third of each
listener iteration against Synapse, and so of every message's latency. A session keeps the client and its
connection pool, the access token, and the rooms the bot is known to be in.

Sessions are keyed by homeserver, account and credential, so changing a source's token or password starts
a new one; a session whose token the homeserver refuses is dropped (`forget`). The rooms the bot is in are
kept up to date by each sync (rooms it left are forgotten, rooms it joins are added) and read again from
the homeserver every JOINED_ROOMS_TTL seconds, in case the bot left a room while no source was syncing it.
httpx clients are safe to share between threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from communa.connectors.matrix.client import MatrixClient

MAX_SESSIONS = 256  # accounts kept; beyond, the least recently used is dropped (its connections close with it)
JOINED_ROOMS_TTL = 60.0  # seconds


@dataclasses.dataclass(eq=False)
class Session:
    key: tuple[str, str, str]
    token: str
    client: MatrixClient
    joined: set[str] | None = None  # rooms the bot is in; None until read from the homeserver
    joined_read_at: float = 0.0

    def joined_rooms(self) -> set[str]:
        """The rooms the bot is in, read again from the homeserver when unknown or older than the TTL."""
        if self.joined is None or time.monotonic() - self.joined_read_at > JOINED_ROOMS_TTL:
            self.joined = self.client.joined_rooms()
            self.joined_read_at = time.monotonic()
        return self.joined

    def left(self, rooms: set[str]) -> None:
        if self.joined is not None:
            self.joined -= rooms


_sessions: OrderedDict[tuple[str, str, str], Session] = OrderedDict()
_lock = threading.Lock()


def session_for(homeserver: str, user_id: str, *, credential: str, log_in: Callable[[], str] | None) -> Session:
    """The account's session, created on first use: with `credential` as the access token, or, when
    `log_in` is given (`credential` is then the password), with the token it returns."""
    key = (homeserver, user_id, hashlib.sha256(credential.encode()).hexdigest())
    with _lock:  # logging in under the lock: two threads never log the same account in twice
        session = _sessions.get(key)
        if session is None:
            token = log_in() if log_in is not None else credential
            client = MatrixClient(homeserver, access_token=token)
            session = _sessions[key] = Session(key=key, token=token, client=client)
            while len(_sessions) > MAX_SESSIONS:
                _sessions.popitem(last=False)
        _sessions.move_to_end(key)
        return session


def forget(session: Session) -> None:
    """Drop a session whose token no longer works: the next use logs in again or uses the new token."""
    with _lock:
        if _sessions.get(session.key) is session:
            del _sessions[session.key]
