"""The state of the demo history while it is written: people, posts, facts, time, and one seeded rng."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from communa.demo.people import Casting, Person, Role, cast
from communa.demo.phrases import BANKS
from communa.demo.phrases.base import SLOTS, Bank

MEMBERS = 330
BURR_BATCH = "24-B"
FIRMWARE = "3.2.1"


@dataclasses.dataclass(eq=False, slots=True)
class Post:
    """One thing someone did on a source; rendered into an import row once the history is complete."""

    seq: int
    source: str
    author: Person
    at: datetime
    kind: str
    text: str
    language: str
    title: str = ""
    parent: Post | None = None
    root: Post | None = None  # None: this post starts its own thread
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    external_id: str = ""

    @property
    def thread(self) -> Post:
        return self.root or self


@dataclasses.dataclass(slots=True)
class Facts:
    """What the generator knows it wrote: the ground truth tests and later issues can check against."""

    questions: list[Post] = dataclasses.field(default_factory=list)
    unanswered: list[Post] = dataclasses.field(default_factory=list)
    peer_answered: list[Post] = dataclasses.field(default_factory=list)  # thread roots
    staff_answered: list[Post] = dataclasses.field(default_factory=list)
    heated: list[Post] = dataclasses.field(default_factory=list)
    abuse: list[Post] = dataclasses.field(default_factory=list)
    identity_attacks: list[Post] = dataclasses.field(default_factory=list)
    spam: list[Post] = dataclasses.field(default_factory=list)
    announcements: list[Post] = dataclasses.field(default_factory=list)


class History:
    """The mutable state while writing the history: people, posts and facts, all from one seeded rng."""

    def __init__(self, *, seed: int, now: datetime, days: int) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.days = days
        self.casting: Casting = cast(self.rng, days=days, members=MEMBERS)
        self.posts: list[Post] = []
        self.facts = Facts()

    # --- people ---------------------------------------------------------------------------------

    @property
    def people(self) -> list[Person]:
        return self.casting.people

    def members_on(self, source: str, day: int, *, language: str = "", exclude: Sequence[Person] = ()) -> list[Person]:
        return [
            p
            for p in self.people
            if p.role is Role.MEMBER
            and source in p.accounts
            and p.joined_day <= day
            and (not language or p.language == language)
            and p not in exclude
        ]

    def pick(self, people: Sequence[Person]) -> Person | None:
        if not people:
            return None
        return self.rng.choices(people, weights=[p.weight for p in people])[0]

    def team_for(self, source: str, language: str, *, moderators: bool = False) -> Person | None:
        """Who answers for the brand here: a shared brand account if the source has one, else a person."""
        wanted = {Role.STAFF, Role.MODERATOR} if moderators else {Role.STAFF}
        team = [p for p in self.people if p.role in wanted and source in p.accounts]
        brand = [p for p in team if p.full_name == "Aurora Coffee"]
        if brand and not moderators:
            return brand[0]
        speaking = [p for p in team if language in p.languages]
        return self.rng.choice(speaking or team) if (speaking or team) else None

    # --- time -----------------------------------------------------------------------------------

    def day_start(self, day: int) -> datetime:
        return self.now - timedelta(days=self.days - day)

    def moment(self, day: int, person: Person) -> datetime:
        """A time on `day` when `person` is plausibly awake: mornings and evenings in their time zone."""
        local_hour = self.rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        start = self.day_start(day)
        start_local_hour = (start.hour + person.utc_offset) % 24
        hours = (local_hour - start_local_hour) % 24
        return start + timedelta(hours=hours, minutes=self.rng.randint(0, 59), seconds=self.rng.randint(0, 59))

    def later(self, after: datetime, low_minutes: float, high_minutes: float) -> datetime:
        """A reply's time: log-uniform between the bounds, so most replies are quick and a few are slow."""
        minutes = low_minutes * (high_minutes / low_minutes) ** self.rng.random()
        return after + timedelta(minutes=minutes)

    # --- writing --------------------------------------------------------------------------------

    def slots(self, **given: str) -> dict[str, str]:
        rng = self.rng
        values = {
            "grinder": rng.choice(("Vela", "Vela", "Vela 2")),
            "setting": str(rng.randint(6, 28)),
            "temp": str(rng.randint(88, 96)),
            "days": str(rng.randint(9, 24)),
            "order": f"AC-{rng.randint(40000, 69999)}",
            "version": FIRMWARE,
            "ratio": rng.choice(("1:15", "1:16", "1:16", "1:17")),
            "grams": str(rng.randint(15, 20)),
            "name": "",
            "batch": BURR_BATCH,
            "staff": "",
        }
        values.update(given)
        assert set(values) == set(SLOTS)
        return values

    def fill(self, template: str, **given: str) -> str:
        return template.format_map(self.slots(**given)).strip()

    def say(self, options: Sequence[str], **given: str) -> str:
        return self.fill(self.rng.choice(options), **given)

    def post(
        self,
        *,
        source: str,
        author: Person,
        at: datetime,
        kind: str,
        text: str,
        language: str,
        title: str = "",
        parent: Post | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Post | None:
        """Record a post unless it would lie in the future (then that part of the story hasn't happened yet)."""
        if at > self.now:
            return None
        root = parent.thread if parent else None
        post = Post(len(self.posts), source, author, at, kind, text, language, title, parent, root, metadata or {})
        self.posts.append(post)
        return post

    def day_of(self, at: datetime) -> int:
        return max(0, min(self.days - 1, (at - self.day_start(0)) // timedelta(days=1)))


# People post mostly in the morning and the evening of their own day.
HOUR_WEIGHTS = (1, 1, 0, 0, 0, 1, 3, 6, 8, 7, 6, 6, 6, 5, 5, 5, 5, 6, 7, 8, 8, 7, 4, 2)


def bank(language: str) -> Bank:
    return BANKS[language]
