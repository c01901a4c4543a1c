"""Spreadsheet formula injection: the guard every CSV export uses.

The same rule as enrichment/files.py (`guard_cell`), at the bottom layer so that every app can use it (an app
below enrichment, like members, cannot import enrichment).
"""

from __future__ import annotations

from typing import Any

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: Any) -> Any:
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
