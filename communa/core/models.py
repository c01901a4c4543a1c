"""Base models shared by every domain app. No domain logic lives here."""

from __future__ import annotations

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkspaceScopedModel(models.Model):
    """A row that belongs to one community. Selectors always filter on `workspace`.

    Subclasses lead a composite index with `workspace` (which serves workspace filters too), so the
    column gets no single-column index of its own: one index fewer to maintain on every insert.
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        abstract = True
