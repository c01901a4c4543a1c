"""Pluggable backends, chosen in settings.ENRICHMENT: the language detector and the models (encoder + heads).

A backend is a class named by its import path; it is built once per process (the models are loaded lazily
on first use, so a web process that never classifies never loads them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from communa.enrichment.models import Encoder, Head


@dataclasses.dataclass(frozen=True, slots=True)
class LanguageCandidate:
    code: str  # ISO 639-1 where one exists ("en", "it"), else the detector's code
    probability: float


class LanguageBackend(Protocol):
    name: str
    version: str

    def candidates(self, texts: Sequence[str], *, limit: int) -> list[list[LanguageCandidate]]:
        """For each text, its `limit` most likely languages, most likely first."""
        ...


class ModelsBackend(Protocol):
    def encoder(self) -> Encoder | None:
        """The sentence encoder, or None when it is not installed."""
        ...

    def head(self, task: str, workspace_id: int | None) -> Head | None:
        """The head for `task` (the workspace's own when it has one), or None when it is not installed."""
        ...


def language_backend() -> LanguageBackend:
    backend: LanguageBackend = _build(settings.ENRICHMENT["LANGUAGE_BACKEND"])
    return backend


def models_backend() -> ModelsBackend:
    backend: ModelsBackend = _build(settings.ENRICHMENT["MODELS_BACKEND"])
    return backend


@cache
def _build(path: str) -> Any:
    return import_string(path)()
