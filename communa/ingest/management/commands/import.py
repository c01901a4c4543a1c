# ruff: noqa: N999 — the module name is the command's name: `communa import`
"""`communa import FILE --source ID`: bring messages in from an NDJSON or CSV file (docs/connectors/import.md).

The file is streamed, never loaded whole: rows go to the ingest path in batches of 1000, each batch in its
own transaction, with a progress bar of the bytes read. Bad rows are skipped and listed with their line
number; importing the same file again leaves the same rows.
"""

from __future__ import annotations

import dataclasses
import io
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from communa.audit.services import record
from communa.connectors.base import Connector, RawItem
from communa.connectors.imports.reader import EXTENSIONS, FORMATS, ImportFormatError, ImportReader, RowError
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import build_connector
from communa.ingest.services import ingest_events

BATCH_ROWS = 1000
LISTED_REJECTIONS = 20


@dataclasses.dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    not_understood: int = 0  # stored, but the connector could not read them (a bug: see RawEvent.error)
    rejected: int = 0
    first_rejections: list[RowError] = dataclasses.field(default_factory=list)
    unknown_fields: list[str] = dataclasses.field(default_factory=list)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.first_rejections) < LISTED_REJECTIONS:
            self.first_rejections.append(error)

    @property
    def imported(self) -> int:
        return self.created + self.updated


def guess_format(path: Path) -> str:
    """The format from the file's extension, or a CommandError that says how to choose one."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise CommandError(
            f"cannot tell the format of {path.name} from its extension: pass --format ndjson or --format csv"
        )
    return fmt


def find_import_source(*, source_id: int, workspace: str | None) -> Source:
    """The import source to fill; refuses a source of another kind, or one that is paused or disabled."""
    sources = Source.objects.select_related("workspace").filter(pk=source_id)
    if workspace:
        sources = sources.filter(workspace__slug=workspace)
    source = sources.first()
    if source is None:
        where = f" in workspace {workspace!r}" if workspace else ""
        raise CommandError(f"there is no source with id {source_id}{where}")
    if source.kind != "import":
        raise CommandError(
            f'source {source_id} ("{source.name}") is a {source.kind} source: files go into a source of kind "import"'
        )
    if source.status in {SourceStatus.PAUSED, SourceStatus.DISABLED}:
        raise CommandError(f'source {source_id} ("{source.name}") is {source.status}: resume it first')
    return source


def import_file(*, path: Path, fmt: str, source: Source, progress: Progress) -> ImportSummary:
    """Stream `path` into `source`; raise ImportFormatError before importing anything from a wrong file."""
    connector = build_connector(source)
    summary = ImportSummary()
    with path.open("rb") as raw:
        tracked = progress.wrap_file(raw, total=path.stat().st_size, description=f"Importing {path.name}")
        # utf-8-sig drops the byte order mark spreadsheets put first; invalid bytes become U+FFFD.
        text = io.TextIOWrapper(tracked, encoding="utf-8-sig", errors="replace", newline="")
        reader = ImportReader(text, fmt)
        batch: list[RawItem] = []
        for outcome in reader.rows():
            summary.rows += 1
            if isinstance(outcome, RowError):
                summary.reject(outcome)
                continue
            batch.append(outcome.item)
            if len(batch) == BATCH_ROWS:
                _ingest(source, connector, batch, summary)
                batch = []
        _ingest(source, connector, batch, summary)
    summary.unknown_fields = sorted(reader.unknown_fields)
    return summary


def _ingest(source: Source, connector: Connector, batch: list[RawItem], summary: ImportSummary) -> None:
    if not batch:
        return
    result = ingest_events(source=source, events=batch, connector=connector)
    summary.created += result.created
    summary.updated += result.messages - result.created
    summary.not_understood += result.failed


class Command(BaseCommand):
    help = "Import messages from an NDJSON or CSV file into a source of kind 'import'."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="the .ndjson / .jsonl or .csv file")
        parser.add_argument("--source", type=int, required=True, help="id of the import source to fill")
        parser.add_argument("--workspace", help="slug of the source's workspace (a safety check)")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file's extension")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        fmt = options["format"] or guess_format(path)
        source = find_import_source(source_id=options["source"], workspace=options["workspace"])
        console = Console(stderr=True)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,  # no bar in logs and pipes, only the summary
        )
        try:
            with progress:
                summary = import_file(path=path, fmt=fmt, source=source, progress=progress)
        except ImportFormatError as exc:
            raise CommandError(f"{path.name}: {exc}; nothing was imported") from exc
        if summary.rows == 0:
            raise CommandError(f"{path.name} has no rows to import; nothing was imported")
        self._report(path, source, summary)
        if summary.imported == 0:
            raise CommandError(f"no row of {path.name} could be imported")
        record(
            workspace=source.workspace,
            actor=None,
            action="source.imported",
            target=source,
            data={"file": path.name, "format": fmt, "rows": summary.rows, "created": summary.created,
                  "updated": summary.updated, "rejected": summary.rejected},
        )  # fmt: skip

    def _report(self, path: Path, source: Source, summary: ImportSummary) -> None:
        write = self.stdout.write
        write(f'{path.name} → source {source.pk} "{source.name}" (workspace {source.workspace.slug})')
        write(f"  rows read:                  {summary.rows:>9,}")
        write(f"  messages created:           {summary.created:>9,}")
        write(f"  messages already there:     {summary.updated:>9,}  (updated to the file's version)")
        write(f"  rows rejected:              {summary.rejected:>9,}")
        for error in summary.first_rejections:
            write(f"    line {error.line}: {error.reason}")
        if summary.rejected > len(summary.first_rejections):
            write(f"    … and {summary.rejected - len(summary.first_rejections):,} more")
        if summary.not_understood:
            write(f"  stored but not understood:  {summary.not_understood:>9,}  (a bug: please report it)")
        if summary.unknown_fields:
            write(f"  ignored fields: {', '.join(summary.unknown_fields)}")
