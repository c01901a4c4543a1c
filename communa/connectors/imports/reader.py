"""Streaming readers for import files: rows in, RawItems or per-line errors out, nothing kept in memory.

A reader never stops at a bad row: it reports the line and the reason and goes on. It stops only when the
file as a whole is not what it claims to be (empty, or not NDJSON / not an import CSV at all).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from typing import Any, TextIO

from pydantic import ValidationError

from communa.connectors.base import RawItem, describe_validation_error
from communa.connectors.imports.schemas import CSV_FIELDS, REQUIRED_FIELDS, ROW_FIELDS, ImportRow

FORMATS = ("ndjson", "csv")
EXTENSIONS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # characters in one cell; the stdlib's default (128 KiB) cuts long posts


class ImportFormatError(Exception):
    """The file cannot be read as the format asked for; nothing should be imported from it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    line: int
    item: RawItem


@dataclasses.dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


class ImportReader:
    """Read `stream` (text, already decoded) in `fmt`; `unknown_fields` fills up as rows are read."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ImportFormatError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.stream = stream
        self.format = fmt
        self.unknown_fields: set[str] = set()

    def rows(self) -> Iterator[Row | RowError]:
        return self._ndjson() if self.format == "ndjson" else self._csv()

    def _ndjson(self) -> Iterator[Row | RowError]:
        first = True
        for number, line in enumerate(self.stream, start=1):
            if not line.strip():
                continue
            data, problem = _json_object(line)
            if problem:
                if first:  # the very first row decides whether this is NDJSON at all
                    raise ImportFormatError(f"this is not NDJSON: line {number}: {problem}")
                yield RowError(number, problem)
                continue
            first = False
            self.unknown_fields.update(key for key in data if key not in ROW_FIELDS)
            # null means "not given", as an empty CSV cell does.
            yield _row(number, {key: value for key, value in data.items() if value is not None})
        if first:
            raise ImportFormatError("the file is empty")

    def _csv(self) -> Iterator[Row | RowError]:
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        reader = csv.reader(self.stream, strict=False)
        header = self._csv_header(reader)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowError(start, f"unreadable CSV ({exc})")
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                yield RowError(start, f"has {len(record)} columns, the header has {len(header)}")
                continue
            yield _row(start, {name: cell for name, cell in zip(header, record, strict=True) if cell != ""})

    def _csv_header(self, reader: Any) -> list[str]:
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportFormatError(f"this is not a readable CSV file ({exc})") from exc
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise ImportFormatError("the file is empty")
        names = [cell.strip().lower() for cell in header]
        missing = [name for name in REQUIRED_FIELDS if name not in names]
        if missing:
            found = ", ".join(name for name in names[:8] if name) or "nothing"
            raise ImportFormatError(
                f"this is not an import CSV: the header line lacks {', '.join(missing)} (it has: {found})"
            )
        repeated = sorted({name for name in names if name in CSV_FIELDS and names.count(name) > 1})
        if repeated:
            raise ImportFormatError(f"the header line repeats {', '.join(repeated)}")
        self.unknown_fields.update(name for name in names if name and name not in CSV_FIELDS)
        return [name if name in CSV_FIELDS else "" for name in names]


def _json_object(line: str) -> tuple[dict[str, Any], str]:
    """The line's JSON object, or why it is not one."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return {}, "not valid JSON (nested too deeply)"
    if not isinstance(data, dict):
        return {}, "not a JSON object"
    return data, ""


def _row(line: int, data: dict[str, Any]) -> Row | RowError:
    data.pop("", None)  # columns Communa does not read
    try:
        row = ImportRow.model_validate(data)
    except ValidationError as exc:
        return RowError(line, describe_validation_error(exc, whole="row"))
    return Row(line, RawItem(external_id=row.id, payload=row.model_dump(mode="json")))
