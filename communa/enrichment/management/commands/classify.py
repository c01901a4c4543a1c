"""`communa classify`: the signals of every row of a file, with the models the stream uses.

communa classify --task sentiment --input posts.csv --text-column body --output labelled.csv
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from communa.accounts.models import Workspace
from communa.enrichment.backends import models_backend
from communa.enrichment.files import (
    FORMATS,
    FileProblem,
    RowWriter,
    batched,
    guess_format,
    read_rows,
    result_columns,
    text_of,
)
from communa.enrichment.pipeline import MODEL_TASKS, TASKS, Item, analyse

BATCH = 256


class Command(BaseCommand):
    help = "Label each row of a CSV, TSV or JSON Lines file with one signal (language, sentiment, …)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--task", required=True, choices=TASKS)
        parser.add_argument("--input", required=True, type=Path, help="The file to read.")
        parser.add_argument("--text-column", required=True, help="The column (or JSON key) holding the text.")
        parser.add_argument("--format", choices=FORMATS, help="Of both files (default: from the input's name).")
        parser.add_argument("--output", required=True, type=Path, help="Where to write the labelled rows.")
        parser.add_argument(
            "--workspace", help="Use this workspace's own models (trained on its corrections) and languages."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        task: str = options["task"]
        source: Path = options["input"]
        fmt = guess_format(source, options["format"])
        workspace = workspace_named(options["workspace"])
        workspace_id = workspace.pk if workspace else None
        require_model(task, workspace_id)
        if not source.is_file():
            raise CommandError(f"{source} does not exist.")
        count = 0
        try:
            with (
                source.open(encoding="utf-8", newline="") as reader,
                options["output"].open("w", encoding="utf-8", newline="") as out,
            ):
                writer = RowWriter(out, fmt)
                for batch in batched(read_rows(reader, fmt), BATCH):
                    texts = [text_of(row, options["text_column"], count + i + 1) for i, row in enumerate(batch)]
                    signals = analyse(
                        [Item(text=t) for t in texts],
                        tasks={"language", task},
                        workspace_id=workspace_id,
                        languages=workspace.languages if workspace else (),
                    )
                    for row, result in zip(batch, signals, strict=True):
                        writer.write({**row, **result_columns(task, result)})
                    count += len(batch)
        except (FileProblem, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: {exc}") from exc
        self.stdout.write(f"{count} rows labelled with {task} → {options['output']}")


def workspace_named(slug: str | None) -> Workspace | None:
    if not slug:
        return None
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace {slug!r}.")
    return workspace


def require_model(task: str, workspace_id: int | None) -> None:
    """Refuse clearly, before reading anything, when the task's model is not installed."""
    if task not in MODEL_TASKS:
        return
    backend = models_backend()
    if backend.encoder() is None:
        raise CommandError("The sentence encoder is not installed, so no model signal can be computed.")
    if backend.head(task, workspace_id) is None:
        raise CommandError(f"The {task} model is not installed in this Communa.")
