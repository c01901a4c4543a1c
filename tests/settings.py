"""Test settings: the real settings, with each pytest-xdist worker on its own Redis database.

Without this, two test processes would consume each other's RQ jobs from the same queues.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from communa.config.settings import *  # noqa: F403
from communa.config.settings import REDIS_URL

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_index = int(_worker.removeprefix("gw") or 0) if _worker.startswith("gw") else 0

if REDIS_URL:
    _base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.rsplit("/", 1)[-1].isdigit() else REDIS_URL.rstrip("/")
    # COMMUNA_TEST_REDIS_DB moves the range down, so that concurrent runs in one machine don't share queues.
    _top = int(os.environ.get("COMMUNA_TEST_REDIS_DB", "15"))
    TEST_REDIS_URL = f"{_base}/{(_top - (_index % 8)) % 16}"
    RQ_QUEUES = {name: {"URL": TEST_REDIS_URL, "DEFAULT_TIMEOUT": 600} for name in ("default", "ingest")}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": TEST_REDIS_URL}}

# The tests' own receivers listen on loopback; tests/test_netguard.py checks the refusal with this emptied.
COMMUNA_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as in production (WAL, busy timeout), not the shared-cache in-memory database, whose table
    # locks make threads (listeners, racing schedulers) fail instead of wait. One file per test process
    # (the pid), so concurrent runs in one checkout never share it; pytest-django deletes it afterwards.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"communa-test-{os.getpid()}.sqlite3")
    }
