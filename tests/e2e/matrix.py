"""The Matrix side of the end-to-end tests: a community room on the real Synapse, and a member who talks in it."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from tests.servers.synapse import MatrixUser, SynapseServer


def community_room(synapse: SynapseServer, *, name: str) -> str:
    """A room owned by the owner, the member in it, the bot invited (Communa joins it on its first sync)."""
    room = synapse.owner.create_room(invite=(synapse.member.user_id, synapse.bot.user_id), name=name)
    synapse.member.join(room)
    return room


class NumberedPoster:
    """The member posting "<prefix> 0001", "<prefix> 0002", ... at a steady rate, on a thread of its own.

    Each send is one PUT with its own transaction id, so Synapse stores each number exactly once; `sent` maps
    each number to the event id Synapse gave it. A failed send stops the poster and is raised on exit.
    """

    def __init__(self, synapse: SynapseServer, room: str, *, prefix: str, per_second: float) -> None:
        self.room = room
        self.prefix = prefix
        self.interval = 1.0 / per_second
        self.sent: dict[int, str] = {}
        self._user = MatrixUser(synapse.base_url, synapse.member.account)  # its own HTTP client, for its thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poster-{prefix}", daemon=True)
        self._error: BaseException | None = None

    def text(self, number: int) -> str:
        return f"{self.prefix} {number:04d}"

    def __enter__(self) -> NumberedPoster:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop posting (idempotent); raise what made a send fail, if one did."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self._user.close()
        if self._error is not None:
            raise AssertionError(f"the member could not post: {self._error}") from self._error

    def _run(self) -> None:
        number, due = 1, time.monotonic()
        try:
            while not self._stop.is_set():
                self.sent[number] = self._user.say(self.room, self.text(number))
                number += 1
                due += self.interval
                self._stop.wait(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # reported by stop(): a thread's exception would otherwise vanish
            self._error = exc
