from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


class StreamConfig(AppConfig):
    name = "communa.stream"
    label = "stream"

    def ready(self) -> None:
        # Schema upkeep, not domain flow: keep the full-text index and its triggers in place after migrations.
        post_migrate.connect(_ensure_fulltext, sender=self)


def _ensure_fulltext(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from communa.stream.search import ensure_fulltext

    ensure_fulltext(connections[using])
