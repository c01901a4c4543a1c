"""Set-based writes for hot paths: one `INSERT ... ON CONFLICT` statement per batch.

SQLite (>= 3.35) and PostgreSQL share this syntax, so the ingest path runs the same SQL on both. Rows are
plain tuples in column order: no model instances are built, which is what makes ingest fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models

Row = Sequence[Any]


def _column_adapters(fields: Sequence[models.Field[Any, Any]]) -> list[Callable[[Any], Any] | None]:
    adapters: list[Callable[[Any], Any] | None] = []
    for field in fields:
        internal = field.get_internal_type()
        if internal in {"JSONField", "DateTimeField", "DateField", "UUIDField", "DecimalField"}:
            adapters.append(functools.partial(_prep, field))
        else:
            adapters.append(None)
    return adapters


def _prep(field: models.Field[Any, Any], value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def adapt_rows(fields: Sequence[models.Field[Any, Any]], rows: Iterable[Row]) -> list[tuple[Any, ...]]:
    adapters = _column_adapters(fields)
    pairs = list(enumerate(adapters))
    if not any(adapter for _, adapter in pairs):
        return [tuple(row) for row in rows]
    return [tuple(adapter(row[i]) if adapter else row[i] for i, adapter in pairs) for row in rows]


def upsert(
    model: type[models.Model],
    *,
    columns: Sequence[str],
    rows: Iterable[Row],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    expressions: Mapping[str, str] | None = None,
    update_where: str = "",
) -> None:
    """Insert rows, or on a unique conflict update `update` columns (or do nothing).

    `expressions` maps a field to an SQL expression for the update instead of `excluded.<column>`; in it and
    in `update_where`, `{table}` stands for the quoted table name (the existing row).
    `update_where` is an SQL condition on `excluded.*` and the existing row (named by the table) that
    guards the update, e.g. keeping the newest edit when an old payload is replayed.
    """
    meta = model._meta
    fields: list[models.Field[Any, Any]] = [meta.get_field(name) for name in columns]  # type: ignore[misc]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    column_sql = ", ".join(quote(_column(model, name)) for name in columns)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict_sql = ", ".join(quote(_column(model, name)) for name in conflict)
    sql = f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders}) ON CONFLICT ({conflict_sql}) "
    expressions = expressions or {}
    if update or expressions:
        assignments = [f"{quote(_column(model, name))} = excluded.{quote(_column(model, name))}" for name in update]
        assignments += [f"{quote(_column(model, name))} = {expr}" for name, expr in expressions.items()]
        sql += "DO UPDATE SET " + ", ".join(assignments)
        if update_where:
            sql += f" WHERE {update_where}"
        sql = sql.replace("{table}", table)
    else:
        sql += "DO NOTHING"
    params = adapt_rows(fields, rows)
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def _column(model: type[models.Model], name: str) -> str:
    column = model._meta.get_field(name).column  # type: ignore[union-attr]
    assert isinstance(column, str)
    return column


def chunked(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """SQLite caps bound parameters per statement; keep IN (...) lists well under it."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
