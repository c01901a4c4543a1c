"""System checks that explain misconfiguration in words an operator can act on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def communa_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        problems.append(
            Error(
                f"COMMUNA_DATABASE_URL points to an unsupported database ({engine}).",
                hint="Use sqlite:///path/to/file.sqlite3 or postgres://user:pass@host:5432/name.",
                id="communa.E001",
            )
        )
    if len(settings.SECRET_KEY) < 32:
        problems.append(
            Error(
                "COMMUNA_SECRET_KEY is shorter than 32 characters.",
                hint="Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="communa.E002",
            )
        )
    if not settings.DEBUG and settings.BASE_URL.startswith("http://") and not _is_local(settings.BASE_URL):
        problems.append(
            Warning(
                "COMMUNA_BASE_URL is plain http on a non-local host: sign-in cookies travel unencrypted.",
                hint="Serve Communa behind HTTPS and set COMMUNA_BASE_URL=https://...",
                id="communa.W001",
            )
        )
    return problems


def _is_local(url: str) -> bool:
    return any(host in url for host in ("://127.0.0.1", "://localhost", "://[::1]"))
