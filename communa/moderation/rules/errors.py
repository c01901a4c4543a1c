"""The one error a rule set's text can raise: what is wrong, and where (1-based line and column).

Messages are English text that remembers how it was made (`Msg`: a template marked for translation and its
values), so the editor can show them in the reader's language (`RuleError.translated()`) while the engine
itself stays free of any language: values such as RE2's own reason, a key or a word are never translated.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Msg", "RuleError"]


class Msg(str):
    """English text (the str value) that can be rendered again in the active language."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Msg:
        made = super().__new__(cls, template % params if params else template)
        made.template = template
        made.params = params
        return made

    def translated(self) -> str:
        from django.utils.translation import gettext

        text = gettext(self.template)
        if not self.params:
            return text
        return text % {k: v.translated() if isinstance(v, Msg) else v for k, v in self.params.items()}


class RuleError(ValueError):
    """A rule set that does not parse or validate. Never saved: show `str(error)` next to the editor."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message, line, column)
        self.message = str(message)
        self.msg = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"

    def translated(self) -> str:
        """The message (without line and column) in the active language."""
        from django.utils.translation import gettext

        return self.msg.translated() if isinstance(self.msg, Msg) else gettext(self.msg)

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "column": self.column}
