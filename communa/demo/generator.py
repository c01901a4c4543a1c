"""The demo community's history: 90 days of conversations across five sources, as import rows.

Pure and deterministic: the same seed and the same `now` give the same rows, and every timestamp is
relative to `now` so the community always looks current. Nothing here touches the database.

The story it tells: a coffee-gear brand whose community grows week by week (and answers itself more and
more), a launch day that spikes traffic, a defective burr batch and its recall, a season of shipping
delays, a morning when the app's sync service was down, heated threads, spam waves, and a few recent
questions nobody has answered yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from communa.demo import scenes
from communa.demo.history import Facts, History
from communa.demo.people import Person
from communa.demo.render import render_rows

DEFAULT_SEED = 2024
DEFAULT_DAYS = 90


@dataclasses.dataclass(slots=True)
class DemoCommunity:
    rows: dict[str, list[dict[str, Any]]]  # source key → import rows, oldest first
    facts: Facts
    people: list[Person]


SCRIPTED_SCENES: tuple[Callable[[History], None], ...] = (
    scenes.announcements,
    scenes.heated_threads,
    scenes.identity_attack,
    scenes.insults,
    scenes.spam_waves,
    scenes.outage,
    scenes.recent_unanswered,
)


def generate(*, seed: int = DEFAULT_SEED, now: datetime, days: int = DEFAULT_DAYS) -> DemoCommunity:
    """Write the whole history and render it as import rows per source."""
    history = History(seed=seed, now=now, days=days)
    for day in range(days):
        scenes.ordinary_day(history, day)
    for scene in SCRIPTED_SCENES:
        scene(history)
    scenes.reactions(history)
    scenes.joins_and_leaves(history)
    rows = render_rows(history.posts, rng=history.rng)
    return DemoCommunity(rows=rows, facts=history.facts, people=history.people)
