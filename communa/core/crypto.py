"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the secret key.

MultiFernet lets COMMUNA_SECRET_KEY_FALLBACKS decrypt values written under an older key, so an operator
can rotate the key and re-save sources at leisure.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """The value was encrypted with a key this server no longer has."""


def _derive(secret_key: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"communa-secrets-v1", info=b"fernet")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))


@functools.cache
def _fernet(secret_key: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derive(key) for key in (secret_key, *fallbacks)])


def fernet() -> MultiFernet:
    return _fernet(settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


def encrypt_json(value: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        data: dict[str, Any] = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretDecryptionError("secrets were encrypted with another COMMUNA_SECRET_KEY") from exc
    return data
