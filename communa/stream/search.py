"""Full-text search behind one function: SQLite FTS5 embedded, PostgreSQL full-text at scale.

The index is kept by the database itself (FTS5 triggers; a GIN expression index on PostgreSQL), so the
ingest path writes nothing extra. The 'simple' configuration is used on PostgreSQL because a community
writes in many languages at once; stemming per language belongs to the enrichment issue.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.db.models.expressions import RawSQL

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12


def terms(query: str) -> list[str]:
    return _TOKEN.findall(query.lower())[:MAX_TERMS]


def text_search_q(query: str) -> Q:
    """A Q object matching messages whose title or text contains every word of `query` (prefix on the last)."""
    words = terms(query)
    if not words:
        return Q()
    if connection.vendor == "postgresql":
        tsquery = " & ".join(f"{w}:*" if i == len(words) - 1 else w for i, w in enumerate(words))
        sql = "SELECT id FROM stream_message WHERE to_tsvector('simple'::regconfig, title || ' ' || text) @@ to_tsquery('simple'::regconfig, %s)"
        return Q(pk__in=RawSQL(sql, [tsquery]))
    # Each word quoted, so user input can never be FTS5 syntax; the last one is a prefix search.
    match = " ".join(f'"{w}"' + ("*" if i == len(words) - 1 else "") for i, w in enumerate(words))
    return Q(pk__in=RawSQL("SELECT rowid FROM stream_message_fts WHERE stream_message_fts MATCH %s", [match]))


SQLITE_SETUP = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS stream_message_fts USING fts5("
    "title, text, content='stream_message', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS stream_message_fts_ai AFTER INSERT ON stream_message BEGIN "
    "INSERT INTO stream_message_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS stream_message_fts_ad AFTER DELETE ON stream_message BEGIN "
    "INSERT INTO stream_message_fts(stream_message_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS stream_message_fts_au AFTER UPDATE OF title, text ON stream_message BEGIN "
    "INSERT INTO stream_message_fts(stream_message_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO stream_message_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
]
SQLITE_TEARDOWN = [
    "DROP TRIGGER IF EXISTS stream_message_fts_au",
    "DROP TRIGGER IF EXISTS stream_message_fts_ad",
    "DROP TRIGGER IF EXISTS stream_message_fts_ai",
    "DROP TABLE IF EXISTS stream_message_fts",
]
POSTGRES_SETUP = [
    "CREATE INDEX IF NOT EXISTS stream_message_fts ON stream_message "
    "USING GIN (to_tsvector('simple'::regconfig, title || ' ' || text))",
]
POSTGRES_TEARDOWN = ["DROP INDEX IF EXISTS stream_message_fts"]


def ensure_fulltext(connection: BaseDatabaseWrapper) -> None:
    """Create the search index and its triggers if missing. Idempotent.

    Runs from the 0002 migration and again after every `migrate`: on SQLite, altering a column rebuilds the
    message table, which silently drops its triggers; re-creating them here keeps search from going stale.
    The FTS table is then rebuilt from the messages when it had lost its triggers.
    """
    if connection.vendor == "postgresql":
        statements = POSTGRES_SETUP
    elif connection.vendor == "sqlite":
        statements = SQLITE_SETUP
    else:
        return
    with connection.cursor() as cursor:
        missing_triggers = connection.vendor == "sqlite" and _sqlite_triggers_missing(cursor)
        for sql in statements:
            cursor.execute(sql)
        if missing_triggers:
            cursor.execute("INSERT INTO stream_message_fts(stream_message_fts) VALUES ('rebuild')")


def _sqlite_triggers_missing(cursor: Any) -> bool:
    cursor.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'stream_message_fts_%'")
    return bool(cursor.fetchone()[0] < 3)
