"""Spreadsheet formula injection: the guard every CSV export uses.

At the bottom layer so that every app uses the one rule: enrichment's files (communa classify), members' CSV
export, analytics' chart CSVs.
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
