"""Set-based writes for hot paths: one `INSERT ... ON CONFLICT` statement per batch.

SQLite (>= 3.35) and PostgreSQL share this syntax, so the ingest path runs the same SQL on both. Rows are
plain tuples in column order: no model instances are built, which is what makes ingest fast.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models

Row = Sequence[Any]


def _column_adapters(fields: Sequence[models.Field[Any, Any]]) -> list[Callable[[Any], Any] | None]:
    """Per-column converters to what the database driver takes, chosen once per statement.

    Django's `get_db_prep_save` costs microseconds per value, which dominated ingest; these produce the same
    stored values directly. Other field types pass through unchanged (strings, ints, bools, None).
    """
    adapters: list[Callable[[Any], Any] | None] = []
    for field in fields:
        internal = field.get_internal_type()
        if internal == "DateTimeField":
            adapters.append(_sqlite_datetime if connection.vendor == "sqlite" else _aware_datetime)
        elif internal == "JSONField":
            adapters.append(_sqlite_json if connection.vendor == "sqlite" else _driver_json)
        elif internal in {"DateField", "UUIDField", "DecimalField"}:
            adapters.append(functools.partial(_prep, field))
        else:
            adapters.append(None)
    return adapters


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Communa stores timezone-aware datetimes only")
    return value


def _sqlite_datetime(value: datetime) -> str:
    # Exactly Django's SQLite format with USE_TZ: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    if value.tzinfo is not UTC:
        value = _aware(value).astimezone(UTC)
    return str(value.replace(tzinfo=None))


def _aware_datetime(value: datetime) -> datetime:
    return _aware(value)


class JsonText(str):
    """JSON already serialized by the caller (who needed the text anyway): stored without re-encoding."""


def _sqlite_json(value: Any) -> str:
    return json.dumps(value)


def _driver_json(value: Any) -> Any:
    return connection.ops.adapt_json_value(value, None)


def _pg_json_text(value: JsonText) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value, dumps=str)


def _prep(field: models.Field[Any, Any], value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def adapt_rows(
    fields: Sequence[models.Field[Any, Any]], rows: Iterable[Row], *, raw: Sequence[int] = ()
) -> list[list[Any]]:
    """Convert each row's values for the driver; columns at the `raw` positions are left as they are."""
    converters = [
        (i, adapter) for i, adapter in enumerate(_column_adapters(fields)) if adapter is not None and i not in raw
    ]
    # Timestamps repeat within a batch (an unedited message's revision is its creation time; ingested_at is
    # one value), so each distinct one is converted once.
    memo: dict[Any, Any] = {}
    out: list[list[Any]] = []
    for row in rows:
        values = list(row)
        for i, adapter in converters:
            value = values[i]
            if value is None:
                continue
            if isinstance(value, JsonText):
                values[i] = value if connection.vendor == "sqlite" else _pg_json_text(value)
                continue
            if adapter is _sqlite_datetime:
                converted = memo.get(value)
                if converted is None:
                    converted = memo[value] = adapter(value)
                values[i] = converted
            else:
                values[i] = adapter(value)
        out.append(values)
    return out


def upsert(
    model: type[models.Model],
    *,
    columns: Sequence[str],
    rows: Iterable[Row],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    expressions: Mapping[str, str] | None = None,
    update_where: str = "",
    values_sql: Mapping[str, str] | None = None,
) -> None:
    """Insert rows, or on a unique conflict update `update` columns (or do nothing).

    `values_sql` maps a field to the SQL computing its inserted value instead of a plain `%s`; the row then
    holds a tuple with that SQL's parameters in the field's place (they are passed as they are).

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
    values_sql = values_sql or {}
    placeholders = ", ".join(values_sql.get(name, "%s").replace("{table}", table) for name in columns)
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
    params = adapt_rows(fields, rows, raw=[i for i, name in enumerate(columns) if name in values_sql])
    if values_sql:
        params = [_flatten(row) for row in params]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def _flatten(row: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in row:
        if isinstance(value, tuple):
            flat.extend(value)
        else:
            flat.append(value)
    return flat


def _column(model: type[models.Model], name: str) -> str:
    column = model._meta.get_field(name).column  # type: ignore[union-attr]
    assert isinstance(column, str)
    return column


def select_in(sql: str, *, params: Sequence[Any] = (), values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql`, whose IN list is written `{marks}`, once per chunk of `values`; `params` bind first.

    The ORM's `__in` lookup prepares every value through the field in Python, which showed up as a
    large share of ingest time; this binds them as they are.
    """
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array parameter instead of hundreds of placeholders: one statement shape, planned once.
            array_sql = sql.replace("IN ({marks})", "= ANY(%s)")
            for chunk in chunked(values, 5000):
                cursor.execute(array_sql, [*params, list(chunk)])
                rows.extend(cursor.fetchall())
            return rows
        for chunk in chunked(values):
            cursor.execute(sql.format(marks=", ".join(["%s"] * len(chunk))), [*params, *chunk])
            rows.extend(cursor.fetchall())
    return rows


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def chunked(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """SQLite caps bound parameters per statement; keep IN (...) lists well under it."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
