"""Parse COMMUNA_EMAIL_URL (smtp://user:pass@host:port, smtps://..., console://, file:///path)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit


def parse_email_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "file":
        return {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": parts.path}
    if scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ValueError(f"COMMUNA_EMAIL_URL: unsupported scheme {scheme!r} (use smtp, smtps, smtp+tls, console, file)")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if scheme == "smtps" else 587 if scheme == "smtp+tls" else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": scheme == "smtps",
        "EMAIL_USE_TLS": scheme == "smtp+tls",
    }
