"""Lazy, cached loading of the encoder and the heads (the implementation behind the package's contract)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from communa.enrichment.models import TASKS, Encoder, Head
from communa.enrichment.models.heads import NpzHead, read_head

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_lock = threading.Lock()
_heads: dict[tuple[str, int | None], Head | None] = {}


_encoder: Encoder | None = None
_encoder_lock = threading.Lock()


def shared_encoder() -> Encoder:
    """Load the encoder once per process (under a lock: two threads asking first must not load it twice)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            from communa.enrichment.models.encoder import build_encoder

            _encoder = build_encoder()
        return _encoder


def head_for(task: str, workspace_id: int | None) -> Head | None:
    """The cached head for ``task``, preferring the workspace's own weights when a workspace is given."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    key = (task, workspace_id)
    with _lock:
        if key not in _heads:
            _heads[key] = _load_head(task, workspace_id)
        return _heads[key]


def forget_heads() -> None:
    """Drop every cached head so the next call reads the files again."""
    with _lock:
        _heads.clear()


def _load_head(task: str, workspace_id: int | None) -> NpzHead | None:
    if workspace_id is not None:
        own = workspace_head_path(workspace_id, task)
        if own.is_file():
            return read_head(own)
    shipped = WEIGHTS_DIR / f"{task}.npz"
    return read_head(shipped) if shipped.is_file() else None


def data_dir() -> Path:
    """Communa's data directory: Django's DATA_DIR when settings are configured, else COMMUNA_DATA_DIR or ./var."""
    from django.conf import settings

    if settings.configured and hasattr(settings, "DATA_DIR"):
        return Path(settings.DATA_DIR)
    return Path(os.environ.get("COMMUNA_DATA_DIR") or Path.cwd() / "var").resolve()


def encoder_runtime() -> str:
    """The encoder runtime asked for: settings.ENRICHMENT["ENCODER_RUNTIME"], else COMMUNA_ENCODER_RUNTIME, else
    ``auto``."""
    from django.conf import settings

    if settings.configured and "ENCODER_RUNTIME" in getattr(settings, "ENRICHMENT", {}):
        return str(settings.ENRICHMENT["ENCODER_RUNTIME"])
    return os.environ.get("COMMUNA_ENCODER_RUNTIME", "").strip() or "auto"


def workspace_head_path(workspace_id: int, task: str) -> Path:
    """Where a workspace's fine-tuned head for ``task`` lives (outside the package: it holds its own data)."""
    return data_dir() / "models" / "workspaces" / str(int(workspace_id)) / f"{task}.npz"
