"""`communa models train|eval`: reproduce the shipped models, or measure them on a labelled file.

    communa models train [--workspace W] ...          (see docs/understanding.md and the model card)
    communa models eval --task sentiment --input val.csv --text-column text --label-column label \
        [--language-column lang]
"""

from __future__ import annotations

import argparse
import importlib
import io
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.table import Table

from communa.enrichment.evaluation import BINARY_TASKS, UnreadableLabel, gold_label, score_by_group
from communa.enrichment.files import FORMATS, FileProblem, batched, guess_format, read_rows, text_of
from communa.enrichment.management.commands.classify import require_model, workspace_named
from communa.enrichment.pipeline import TASKS, Item, Signals, analyse

BATCH = 256
TRAINING_MODULE = "communa.enrichment.training"


class Command(BaseCommand):
    help = "Train the enrichment models (train) or measure them on a labelled file (eval)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{train,eval}")
        # The trainer reads its own options (and answers --help), so they pass through this parser untouched.
        actions.add_parser("train", add_help=False, help="Fit the heads (and a workspace's, on its corrections).")
        evaluate = actions.add_parser("eval", help="Macro-F1 (and ROC-AUC for yes/no tasks) per language.")
        evaluate.add_argument("--task", required=True, choices=TASKS)
        evaluate.add_argument("--input", required=True, type=Path)
        evaluate.add_argument("--text-column", default="text", help="Default: text.")
        evaluate.add_argument("--label-column", required=True)
        evaluate.add_argument("--language-column", help="Group by this column instead of the detected language.")
        evaluate.add_argument("--format", choices=FORMATS)
        evaluate.add_argument("--workspace", help="Measure this workspace's own models (trained on its corrections).")

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parse_known_args = parser.parse_known_args

        def parse_args(args: Any = None, namespace: Any = None) -> argparse.Namespace:
            options: argparse.Namespace
            options, extra = parse_known_args(args, namespace)
            if extra and getattr(options, "action", None) != "train":
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            options.trainer_argv = extra
            return options

        parser.parse_args = parse_args  # type: ignore[method-assign,assignment]
        return parser

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "train":
            self._train(options.get("trainer_argv", []))
        else:
            self._eval(options)

    def _train(self, argv: list[str]) -> None:
        try:
            training = importlib.import_module(TRAINING_MODULE)
        except ModuleNotFoundError as exc:
            if exc.name != TRAINING_MODULE:
                raise
            raise CommandError("Training is not part of this installation (communa.enrichment.training).") from exc
        if not hasattr(training, "train_main"):
            raise CommandError("This installation's trainer has no entry point (train_main).")
        status = training.train_main(list(argv))
        if status:
            raise CommandError(f"Training failed (exit status {status}).", returncode=int(status))

    def _eval(self, options: dict[str, Any]) -> None:
        task: str = options["task"]
        workspace = workspace_named(options["workspace"])
        options["workspace_id"] = workspace.pk if workspace else None
        require_model(task, options["workspace_id"])
        source: Path = options["input"]
        if not source.is_file():
            raise CommandError(f"{source} does not exist.")
        try:
            groups, gold, signals = _read_and_classify(source, options)
        except (FileProblem, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: {exc}") from exc
        if not gold:
            raise CommandError(f"{source} has no rows.")
        self._print(task, source, score_by_group(task, groups, gold, signals))

    def _print(self, task: str, source: Path, scores: list[Any]) -> None:
        table = Table(title=f"{task} on {source.name}")
        table.add_column("language")
        table.add_column("rows", justify="right")
        table.add_column("macro-F1", justify="right")
        if task in BINARY_TASKS:
            table.add_column("ROC-AUC", justify="right")
        for score in scores:
            cells = [score.group, str(score.rows), f"{score.macro_f1:.3f}"]
            if task in BINARY_TASKS:
                cells.append("–" if score.roc_auc is None else f"{score.roc_auc:.3f}")
            table.add_row(*cells, end_section=score.group == "all")
        console = Console(file=io.StringIO(), width=100, record=True)
        console.print(table)
        self.stdout.write(console.export_text(), ending="")


def _read_and_classify(source: Path, options: dict[str, Any]) -> tuple[list[str], list[str], list[Signals]]:
    task = options["task"]
    fmt = guess_format(source, options["format"])
    groups: list[str] = []
    gold: list[str] = []
    signals: list[Signals] = []
    with source.open(encoding="utf-8", newline="") as handle:
        for batch in batched(read_rows(handle, fmt), BATCH):
            first = len(gold) + 1
            texts = [text_of(row, options["text_column"], first + i) for i, row in enumerate(batch)]
            for i, row in enumerate(batch):
                label = text_of(row, options["label_column"], first + i)
                try:
                    gold.append(gold_label(task, label))
                except UnreadableLabel as exc:
                    raise FileProblem(f"row {first + i}: cannot read {label!r} as a {task} label") from exc
            results = analyse(
                [Item(text=t) for t in texts], tasks={"language", task}, workspace_id=options["workspace_id"]
            )
            for result in results:
                result.embedding = None  # not needed to score; a large file must fit in memory
            signals += results
            if options["language_column"]:
                groups += [text_of(row, options["language_column"], first + i).lower() for i, row in enumerate(batch)]
            else:
                groups += [result.language for result in results]
    return groups, gold, signals
