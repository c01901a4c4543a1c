"""Make platform text storable everywhere: no NULs, no lone surrogates, no invisible control characters.

PostgreSQL rejects NUL bytes and unpaired surrogates in text and jsonb; SQLite would store them and break
later. Rendering safety (escaping) is the templates' job, not this module's: text is stored as typed.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_TEXT = 1_000_000  # characters; a longer message keeps its first million
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUSPICIOUS_JSON = re.compile(r"\\u0000|\\ud[89a-f]", re.IGNORECASE)


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    if not value:
        return ""
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return value[:limit]


def decode_bytes(data: bytes) -> str:
    """Invalid UTF-8 is replaced (U+FFFD), never a crash."""
    return data.decode("utf-8", "replace")


def payload_json(payload: dict[str, Any]) -> str:
    """Serialize a payload for storage, cleaning characters a database would refuse (NUL, lone surrogates)."""
    text = json.dumps(payload)
    if _SUSPICIOUS_JSON.search(text):
        text = json.dumps(_clean(payload))
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
