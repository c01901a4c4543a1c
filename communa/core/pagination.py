"""Keyset (cursor) pagination over (timestamp, id), newest first.

Offsets get slower with every page and skip or repeat rows when new messages arrive; a keyset cursor is
constant-time and stable. The cursor is opaque to clients (base64 of "iso-time|id").
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import datetime
from typing import Generic, TypeVar

from django.db import models
from django.db.models import Q

M = TypeVar("M", bound=models.Model)


class InvalidCursor(ValueError):
    pass


@dataclasses.dataclass
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None


def encode_cursor(at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, pk = raw.rsplit("|", 1)
        return datetime.fromisoformat(at), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def paginate_newest_first(
    queryset: models.QuerySet[M], *, cursor: str | None, limit: int, time_field: str = "created_at"
) -> Page[M]:
    if cursor:
        at, pk = decode_cursor(cursor)
        queryset = queryset.filter(Q(**{f"{time_field}__lt": at}) | Q(**{time_field: at, "pk__lt": pk}))
    rows = list(queryset.order_by(f"-{time_field}", "-pk")[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, time_field), last.pk)
    return Page(items=items, next_cursor=next_cursor)
