"""``communa models train [--task T] [--data-dir DIR] [--workspace W] [--permissive-only]``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from communa.enrichment.models import TASKS, load_encoder
from communa.enrichment.models.runtime import WEIGHTS_DIR, data_dir
from communa.enrichment.training.data import RESEARCH_ONLY
from communa.enrichment.training.report import say

DEFAULT_DATA_DIR = Path("../shared/data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="communa models train",
        description="Train the shipped heads from labelled development sets, or a workspace's heads from its "
        "moderators' corrections. Embeddings of the training texts are cached under the data directory.",
    )
    parser.add_argument("--task", action="append", choices=TASKS, help="Train this task only (repeatable).")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("COMMUNA_TRAINING_DATA") or DEFAULT_DATA_DIR),
        help="Folder of the labelled sets (default: ../shared/data).",
    )
    parser.add_argument("--workspace", help="Fit this workspace's heads (slug or id) on its corrections.")
    parser.add_argument(
        "--permissive-only",
        action="store_true",
        help=f"Leave out research-only sources ({', '.join(sorted(RESEARCH_ONLY))}).",
    )
    parser.add_argument("--output", type=Path, default=WEIGHTS_DIR, help="Where base heads are written.")
    parser.add_argument("--quiet", action="store_true")
    return parser


def train_main(argv: list[str]) -> int:
    """Run training as asked by ``argv``; returns a process exit status (0 on success)."""
    options = build_parser().parse_args(argv)
    tasks = tuple(options.task or TASKS)
    if options.workspace:
        from communa.enrichment.training.workspace import train_workspace

        return train_workspace(options.workspace, tasks, quiet=options.quiet)
    if not options.data_dir.is_dir():
        say(f"No training data at {options.data_dir} (pass --data-dir).")
        return 2
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # comes with scikit-learn

    from communa.enrichment.training.base import train_base
    from communa.enrichment.training.cache import EmbeddingCache

    cache = EmbeddingCache(data_dir() / "enrichment-training" / "embeddings", load_encoder())
    # One BLAS thread: summation order, hence the weights' last bits, then no longer depend on the machine's cores.
    with threadpool_limits(limits=1):
        manifest = train_base(
            tasks,
            options.data_dir,
            options.output,
            cache,
            permissive_only=options.permissive_only,
            progress=not options.quiet,
        )
    summary = {task: manifest["heads"][task]["validation"]["summary"] for task in tasks if task in manifest["heads"]}
    say(json.dumps(summary, indent=2))
    return 0
