"""Progress lines for the person running training."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    """Write one line to stdout (a command's own output, so not through logging)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
