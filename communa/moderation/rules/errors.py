"""The one error a rule set's text can raise: what is wrong, and where (1-based line and column)."""

from __future__ import annotations

from typing import Any


class RuleError(ValueError):
    """A rule set that does not parse or validate. Never saved: show `str(error)` next to the editor."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "column": self.column}
