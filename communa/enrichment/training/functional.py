"""Functional cases written by hand in every supported language, never trained on.

- Toxicity (tests/enrichment_models/toxicity_cases.csv): the distinctions moderators need: friendly swearing,
  quoting to condemn, negation, reclaimed words, polite identity attacks, hate versus profanity.
- Questions (tests/enrichment_models/question_cases.csv): with and without a question mark, statements, a
  question word in a statement, thanks.

Each case names an expectation, checked on the head's probabilities at the 0.5 threshold the pipeline flags with.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

THRESHOLD = 0.5

Scores = Mapping[str, float]

EXPECTATIONS: dict[str, Callable[[Scores], bool]] = {
    # Not flagged, and recognised as profane-but-friendly.
    "friendly": lambda p: p["toxic"] < THRESHOLD and p["friendly_profanity"] >= THRESHOLD,
    "not_toxic": lambda p: p["toxic"] < THRESHOLD,
    "identity_attack": lambda p: p["toxic"] >= THRESHOLD and p["identity_attack"] >= THRESHOLD,
    # Swearing is seen, and not mistaken for hate.
    "profanity_not_identity": lambda p: p["profanity"] >= THRESHOLD and p["identity_attack"] < THRESHOLD,
    "insult": lambda p: p["toxic"] >= THRESHOLD and p["insult"] >= THRESHOLD,
    "threat": lambda p: p["toxic"] >= THRESHOLD and p["threat"] >= THRESHOLD,
    "question": lambda p: p["question"] >= THRESHOLD,
    "not_question": lambda p: p["question"] < THRESHOLD,
}


@dataclass(frozen=True)
class Case:
    lang: str
    case_type: str
    expect: str
    text: str


def read_cases(path: Path) -> list[Case]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [Case(row["lang"], row["case_type"], row["expect"], row["text"]) for row in csv.DictReader(handle)]


def passes(case: Case, scores: Scores) -> bool:
    return EXPECTATIONS[case.expect](scores)


def accuracy_table(cases: Sequence[Case], outcomes: Sequence[bool]) -> dict[str, dict[str, tuple[int, int]]]:
    """(passed, total) per case type, then per language: ``table[case_type][lang]``, with an "all" column/row."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for case, passed in zip(cases, outcomes, strict=True):
        for case_type in (case.case_type, "all"):
            for lang in (case.lang, "all"):
                table[case_type][lang][0] += int(passed)
                table[case_type][lang][1] += 1
    return {kind: {lang: (cell[0], cell[1]) for lang, cell in row.items()} for kind, row in table.items()}
