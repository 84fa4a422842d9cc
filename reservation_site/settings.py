"""Seatclock settings: one module, every value from the environment with a demo default.

Demo mode (the default) runs on a SQLite file and Channels' in-memory layer with the clock
controls open.  ``DATABASE_URL`` points it at PostgreSQL, ``REDIS_URL`` at Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {value!r}") from None
    if not number > minimum or number != number or number == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a finite number above {minimum}, not {value!r}")
    return number


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value!r}")
    return number


SEATCLOCK_MODE = os.environ.get("SEATCLOCK_MODE", "demo").strip().lower()
if SEATCLOCK_MODE not in {"demo", "production"}:
    raise ImproperlyConfigured(f"SEATCLOCK_MODE must be 'demo' or 'production', not {SEATCLOCK_MODE!r}")
PRODUCTION = SEATCLOCK_MODE == "production"

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SEATCLOCK_MODE=production needs SECRET_KEY set in the environment.")
    SECRET_KEY = "seatclock-demo-only-not-secret"

DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["*"])

SEATCLOCK_VERSION = "1.0.0"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "timesync",
    "seats",
    "reservations",
    "simulation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "reservation_site.middleware.ApiErrorEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Paths are exactly the spec's; a trailing slash is accepted by the URL patterns themselves,
# so Django must never redirect.
APPEND_SLASH = False

ROOT_URLCONF = "reservation_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "reservation_site.wsgi.application"
ASGI_APPLICATION = "reservation_site.asgi.application"

# --- Database -------------------------------------------------------------------------
DATA_DIR = Path(os.environ.get("SEATCLOCK_DATA_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Per-request connections by default (safe under ASGI, where every request runs in its own
    # thread: persistent connections there pile up until PostgreSQL refuses new ones).  The
    # production server (serve.sh) runs the API in sync gunicorn workers, one request at a time
    # per process, and keeps one connection per worker: DB_CONN_MAX_AGE (seconds, health
    # checked before reuse).  DB_POOL_SIZE instead turns on psycopg's pool (Django 5.1+), for
    # ASGI servers.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
            conn_health_checks=True,
        )
    }
    if env_int("DB_POOL_SIZE", 0):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": env_int("DB_POOL_SIZE", 0)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "seatclock.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock at BEGIN, so "lock the seat, read what
    # the node sees, insert" is serialised exactly like select_for_update on PostgreSQL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = DATA_DIR / "test-seatclock.sqlite3"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, NTP -----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis pub/sub by default: a group event is one PUBLISH that each server process receives once
# and hands to its own subscribers.  channels-redis' list-based layer (CHANNEL_LAYER=core) keeps
# undelivered messages for a minute, but every consumer of a process contends on one receive
# lock: with 500 subscribers per process an event took seconds to reach them all
# (docs/benchmarks.md).  A live feed loses nothing by pub/sub: the page re-reads the REST API
# on every (re)connection.
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "pubsub").strip().lower()
if CHANNEL_LAYER not in {"pubsub", "core"}:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be 'pubsub' or 'core', not {CHANNEL_LAYER!r}")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                "channels_redis.pubsub.RedisPubSubChannelLayer"
                if CHANNEL_LAYER == "pubsub"
                else "channels_redis.core.RedisChannelLayer"
            ),
            # redis-py 8 caps an asyncio pool at 100 connections and raises beyond; a burst of
            # subscribers (each group_add borrows one) needs more (serve.sh bench: 500 at once).
            # Redis pub/sub channels ignore the database number: CHANNEL_PREFIX keeps two
            # Seatclock installations (or test runs) sharing one Redis apart.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": env_int("REDIS_MAX_CONNECTIONS", 1000)}],
                "prefix": os.environ.get("CHANNEL_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Where the seat-map page opens its WebSocket: 0 = the page's own host and port (run.sh:
# Daphne serves both); serve.sh serves HTTP with gunicorn and /ws/ on another port.
WS_PUBLIC_PORT = env_int("WS_PUBLIC_PORT", 0)

NTP_SERVER = os.environ.get("NTP_SERVER", "127.0.0.1:1123")
NTP_TIMEOUT = float(os.environ.get("NTP_TIMEOUT", "2.0"))
NTP_SAMPLES = int(os.environ.get("NTP_SAMPLES", "4"))

# --- Auth, i18n, static -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders too, so a forgotten collectstatic never
# breaks /docs in the demo.
WHITENOISE_USE_FINDERS = True

# --- REST framework and OpenAPI ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "reservation_site.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Seatclock API",
    "DESCRIPTION": (
        "Seat reservations across simulated server nodes whose clocks drift, and NTP "
        "synchronisation that fixes them. Every error uses the envelope "
        '{"error": {"code", "message", "details"}}.'
    ),
    "VERSION": SEATCLOCK_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reservation_site.schema.strip_trailing_slashes",
        "reservation_site.schema.document_common_errors",
    ],
}

# --- Seatclock ------------------------------------------------------------------------------
SEATCLOCK = {
    # Largest offset an operator may inject, in seconds (a day either way).
    "MAX_INJECTED_OFFSET": 86_400.0,
    "MAX_DRIFT_PPM": 1_000_000.0,
    "PAGE_DEFAULT_LIMIT": 100,
    "PAGE_MAX_LIMIT": 1000,
    # The skew bound trusted by the ``bounded`` consistency mode (seconds): a node sees what is
    # stamped up to this far past its clock, and is fenced beyond 80 % of it from the median.
    "MAX_CLOCK_OFFSET": env_float("MAX_CLOCK_OFFSET", 0.5),
}

# --- Operations: metrics, rate limits, auth, production hardening ----------------------------
INSTALLED_APPS += ["rest_framework.authtoken", "django_prometheus"]
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "reservation_site.throttling.RateLimitHeadersMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

CACHES = {
    "default": (
        {
            "BACKEND": "reservation_site.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that does not answer must not hold a request for long (rate limits read
            # the cache on every API request, and fail open when it is unavailable).
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Longest a live event may hold the request that caused it (Redis hung or unreachable).
SEATCLOCK_EVENTS_TIMEOUT = float(os.environ.get("EVENTS_TIMEOUT", "1.0"))

# Rate limits (spec: 100 requests/min and 10 reservations/min per IP), read per request.
SEATCLOCK_RATE_LIMITS = {
    "ENABLED": env_bool("RATE_LIMITS", PRODUCTION),
    "API": os.environ.get("RATE_LIMIT_API", "100/min"),
    "RESERVATIONS": os.environ.get("RATE_LIMIT_RESERVATIONS", "10/min"),
}
# Behind a proxy, DRF takes the client IP from X-Forwarded-For: set how many proxies to trust.
NUM_PROXIES = int(os.environ["NUM_PROXIES"]) if os.environ.get("NUM_PROXIES") else None

# Clock controls (/api/simulation/* writes, /api/time/sync): open in the demo, staff only in
# production (session or "Authorization: Token <key>"; `manage.py drf_create_token USER`).
SEATCLOCK_OPEN_CLOCK_CONTROLS = env_bool("OPEN_CLOCK_CONTROLS", not PRODUCTION)

REST_FRAMEWORK.update(
    {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.TokenAuthentication",
            # Sessions only in production: in the demo a logged-in admin would otherwise need
            # a CSRF token for every API write from the seat-map page.
            *(["rest_framework.authentication.SessionAuthentication"] if PRODUCTION else []),
        ],
        "DEFAULT_THROTTLE_CLASSES": [
            "reservation_site.throttling.ApiRateThrottle",
            "reservation_site.throttling.ReservationRateThrottle",
        ],
        "NUM_PROXIES": NUM_PROXIES,
    }
)

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Probes and Prometheus scrape over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
