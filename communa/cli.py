"""The `communa` console script: Django's management commands under one name.

`communa run`, `communa worker`, `communa demo`, `communa import FILE --source ...`, `communa migrate`, ...
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["communa", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    main()
