"""The benchmark's data: normalized-looking messages from several sources, ~5,000 people, threads with replies.

Deterministic (one seeded rng). Every payload is already almost a NormalizedMessage, so the bench
connector's normalize() is trivial and the benchmark measures the ingest path, not a parser. The generator
also keeps the truth the raw floor needs (each message's thread), which the ingest path has to work out.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from communa.connectors.base import (
    Connector,
    ConnectorConfig,
    MessageKind,
    NormalizedIdentity,
    NormalizedMessage,
    RawItem,
)

WORDS = [
    "grinder",
    "burrs",
    "espresso",
    "filter",
    "kettle",
    "scale",
    "shot",
    "ratio",
    "dose",
    "water",
    "temperature",
    "roast",
    "light",
    "medium",
    "dark",
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "this",
    "was",
    "my",
    "your",
    "have",
    "but",
    "not",
    "just",
    "so",
    "can",
    "what",
    "about",
    "when",
    "there",
    "would",
    "like",
    "how",
    "they",
    "from",
    "more",
    "time",
    "after",
    "some",
    "one",
    "also",
    "get",
    "got",
    "really",
    "think",
    "because",
    "thanks",
    "help",
    "anyone",
    "else",
    "same",
    "problem",
    "issue",
    "update",
    "firmware",
    "app",
    "sync",
    "order",
    "shipping",
    "customs",
    "week",
    "day",
    "morning",
    "tried",
    "setting",
    "finer",
    "coarser",
    "sour",
    "bitter",
    "sweet",
    "body",
    "clarity",
    "taste",
    "cup",
    "brew",
    "pour",
    "bloom",
    "minutes",
    "seconds",
    "grams",
    "support",
    "replacement",
    "warranty",
    "new",
    "old",
    "version",
    "release",
    "feature",
    "request",
    "please",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SourceShape:
    """How one source looks: what kind its messages are and whether replies carry their thread id."""

    name: str
    platform: str
    root_kind: str
    reply_kind: str
    explicit_threads: bool  # chat replies often name only their parent; ingest resolves the thread
    new_thread_share: float


SHAPES = (
    SourceShape("Forum", "bench:forum", "post", "comment", True, 0.18),
    SourceShape("Chat room", "bench:chat", "chat", "chat", False, 0.35),
    SourceShape("Support mailbox", "bench:email", "email", "email", True, 0.40),
    SourceShape("Second chat", "bench:chat2", "chat", "chat", False, 0.35),
    SourceShape("Social mentions", "bench:social", "post", "post", False, 0.55),
)


@dataclasses.dataclass(slots=True)
class Workload:
    items: dict[str, list[RawItem]]  # source name → raw items, oldest first
    threads: dict[str, dict[str, str]]  # source name → message id → thread root id (the truth)

    @property
    def total(self) -> int:
        return sum(len(items) for items in self.items.values())


class BenchConfig(ConnectorConfig):
    platform: str


class BenchConnector(Connector):
    """A connector whose payloads are already normalized: normalize() only copies fields."""

    kind = "bench"
    label = "Benchmark"
    Config = BenchConfig

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        p = item.payload
        author = NormalizedIdentity(
            platform=p["platform"], external_id=p["author"], handle=p["handle"], display_name=p["name"]
        )
        return [
            NormalizedMessage(
                external_id=p["id"],
                kind=MessageKind(p["kind"]),
                text=p["text"],
                created_at=datetime.fromisoformat(p["at"]),
                author=author,
                thread_external_id=p["thread"],
                parent_external_id=p["parent"],
                title=p["title"],
                url=p["url"],
                language=p["lang"],
                metadata=p["meta"],
            )
        ]


def build(*, total: int, people: int, seed: int = 11) -> Workload:
    """`total` messages over 90 days, split evenly across the sources, written by up to `people` people."""
    rng = random.Random(seed)
    homes = people_on_sources(rng, people)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    workload = Workload(items={}, threads={})
    per_source = [total // len(SHAPES) + (1 if i < total % len(SHAPES) else 0) for i in range(len(SHAPES))]
    for index, (shape, count) in enumerate(zip(SHAPES, per_source, strict=True)):
        items, threads = source_stream(rng, shape, index, count, homes[index], start)
        workload.items[shape.name] = items
        workload.threads[shape.name] = threads
    return workload


def people_on_sources(rng: random.Random, people: int) -> list[list[int]]:
    """Each person is on one source, a fifth of them on two."""
    homes: list[list[int]] = [[] for _ in SHAPES]
    for person in range(people):
        first = rng.randrange(len(SHAPES))
        homes[first].append(person)
        if rng.random() < 0.2:
            homes[(first + 1 + rng.randrange(len(SHAPES) - 1)) % len(SHAPES)].append(person)
    return homes


def source_stream(
    rng: random.Random, shape: SourceShape, index: int, count: int, authors: list[int], start: datetime
) -> tuple[list[RawItem], dict[str, str]]:
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(authors))]  # a few very active people, a long tail
    chosen = rng.choices(authors, weights=weights, k=count)
    step = timedelta(days=90) / max(count, 1)
    open_threads: list[list[str]] = []
    items: list[RawItem] = []
    threads: dict[str, str] = {}
    for n, person in enumerate(chosen):
        message_id = f"s{index}-{n:07d}"
        at = start + step * n
        if not open_threads or rng.random() < shape.new_thread_share:
            open_threads.append([message_id])
            del open_threads[:-300]  # conversations go quiet
            thread, parent = message_id, ""
        else:
            conversation = open_threads[-1 - min(int(rng.expovariate(0.05)), len(open_threads) - 1)]
            thread = conversation[0]
            parent = conversation[-1] if rng.random() < 0.6 else rng.choice(conversation)
            conversation.append(message_id)
        threads[message_id] = thread
        items.append(
            RawItem(external_id=message_id, payload=payload(rng, shape, message_id, person, at, thread, parent))
        )
    return items, threads


def payload(
    rng: random.Random, shape: SourceShape, message_id: str, person: int, at: datetime, thread: str, parent: str
) -> dict[str, Any]:
    is_root = not parent
    return {
        "id": message_id,
        "platform": shape.platform,
        "kind": shape.root_kind if is_root else shape.reply_kind,
        "author": f"u{person}",
        "handle": f"user{person}",
        "name": f"Person {person}",
        "at": at.isoformat(),
        "thread": thread if (shape.explicit_threads and not is_root) else "",
        "parent": parent,
        "title": " ".join(rng.choices(WORDS, k=6)).capitalize() if is_root and shape.root_kind != "chat" else "",
        "text": " ".join(rng.choices(WORDS, k=rng.randint(6, 70))),
        "url": f"https://{shape.platform.split(':')[1]}.example/m/{message_id}",
        "lang": rng.choice(("en", "en", "en", "it", "es", "ru")),
        "meta": {"source_index": shape.platform, "n": len(message_id)},
    }
