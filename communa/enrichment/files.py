"""Tabular files for `communa classify` and `communa models eval`: CSV, TSV and JSON Lines, read and written
as streams (a file of any size runs in constant memory), with spreadsheet formula injection kept out."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from communa.core.spreadsheet import guard_cell as guard_cell  # the one formula-injection rule (re-exported)
from communa.enrichment.pipeline import TOXICITY_CATEGORIES, Signals
from communa.enrichment.presentation import reason_text

FORMATS = ("csv", "tsv", "jsonl")
csv.field_size_limit(10_000_000)  # one message may be long; the default 128 KB limit would refuse it


class FileProblem(ValueError):
    """A file that cannot be read as asked: said in words for the person at the terminal."""


def guess_format(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower().lstrip(".")
    if suffix in {"jsonl", "ndjson"}:
        return "jsonl"
    return "tsv" if suffix in {"tsv", "tab"} else "csv"


def read_rows(handle: IO[str], fmt: str) -> Iterator[dict[str, Any]]:
    """Rows as dicts, in file order."""
    if fmt == "jsonl":
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FileProblem(f"line {number} is not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise FileProblem(f"line {number} is not a JSON object")
            yield row
        return
    yield from csv.DictReader(handle, delimiter="\t" if fmt == "tsv" else ",")


def text_of(row: dict[str, Any], column: str, number: int) -> str:
    if column not in row:
        raise FileProblem(f"row {number} has no column {column!r} (it has: {', '.join(map(str, row)) or 'none'})")
    value = row[column]
    return "" if value is None else str(value)


class RowWriter:
    """Writes result rows in the chosen format; CSV and TSV cells are guarded against formula injection."""

    def __init__(self, handle: IO[str], fmt: str) -> None:
        self._handle, self._fmt = handle, fmt
        self._csv: csv.DictWriter[str] | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self._fmt == "jsonl":
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        if self._csv is None:
            delimiter = "\t" if self._fmt == "tsv" else ","
            self._csv = csv.DictWriter(self._handle, fieldnames=list(row), delimiter=delimiter, extrasaction="ignore")
            self._csv.writeheader()
        self._csv.writerow({key: guard_cell(value) for key, value in row.items()})


def result_columns(task: str, signals: Signals) -> dict[str, Any]:
    """The label and probabilities of one task for one row (empty values when the text had nothing to read)."""
    columns: dict[str, Any] = {"language": signals.language, "language_probability": signals.language_score}
    if task == "sentiment":
        scores = signals.sentiment_scores or {}
        columns |= {"sentiment": signals.sentiment} | {f"p_{label}": scores.get(label) for label in _SENTIMENTS}
    elif task == "toxicity":
        categories = signals.toxicity_categories or {}
        columns |= {"toxic": signals.is_toxic, "p_toxic": signals.toxicity_score}
        columns |= {f"p_{category}": categories.get(category) for category in TOXICITY_CATEGORIES}
        columns |= {"p_friendly_profanity": signals.friendly_profanity_score, "reasons": _reasons(signals, task)}
    elif task == "spam":
        columns |= {"spam": signals.is_spam, "p_spam": signals.spam_score, "reasons": _reasons(signals, task)}
    elif task == "question":
        columns |= {"question": signals.is_question, "p_question": signals.question_score}
    return columns


_SENTIMENTS = ("negative", "neutral", "positive")


def _reasons(signals: Signals, task: str) -> str:
    return "; ".join(reason_text(reason) for reason in signals.explanation.get(task, []))


def batched(rows: Iterator[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
