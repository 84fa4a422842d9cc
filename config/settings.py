"""Seatclock settings: one module, every value read once from the environment by one typed
reader (django-environ), with a default that runs the local demo.

Names: a setting read from the environment has the same name there.  Seatclock's own settings
all start with ``SEATCLOCK_``; settings that belong to Django or a library keep that library's
name (``SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS``, ``SECURE_*``, ``STATIC_ROOT``, DRF's
``NUM_PROXIES``) and so do the two connection URLs (``DATABASE_URL``, ``REDIS_URL``).
``.env.example`` lists every variable with its default.  Reading this module has no side effect
(no folder is created, no connection opened).

Demo mode (the default) runs on a SQLite file and Channels' in-memory layer with the clock
controls open.  ``DATABASE_URL`` points it at PostgreSQL, ``REDIS_URL`` at Redis.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Variables renamed when settings moved to one reader: a leftover old name is a mistake to
# report, not to ignore (NTP_SERVER=pool.ntp.org would otherwise silently query the local server).
RENAMED = {
    old: f"SEATCLOCK_{old}"
    for old in (
        "DB_CONN_MAX_AGE",
        "DB_POOL_SIZE",
        "CHANNEL_LAYER",
        "CHANNEL_PREFIX",
        "REDIS_MAX_CONNECTIONS",
        "WS_PUBLIC_PORT",
        "NTP_SERVER",
        "NTP_TIMEOUT",
        "NTP_SAMPLES",
        "MAX_CLOCK_OFFSET",
        "EVENTS_TIMEOUT",
        "RATE_LIMITS",
        "RATE_LIMIT_API",
        "RATE_LIMIT_RESERVATIONS",
        "OPEN_CLOCK_CONTROLS",
        "LOG_LEVEL",
    )
}
_leftover = sorted(old for old in RENAMED if old in env and RENAMED[old] not in env)
if _leftover:
    raise ImproperlyConfigured(
        "Renamed environment variables: " + ", ".join(f"{old} is now {RENAMED[old]}" for old in _leftover)
    )


def _number(name: str, cast: type, default: float, *, minimum: float, inclusive: bool = True) -> float:
    """``env(name)`` as a finite number at or above ``minimum`` (strictly above unless
    ``inclusive``), with a message naming the variable when it is not."""
    raw = env.str(name, default="")
    if raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a {cast.__name__}, not {raw!r}") from None
    too_small = value < minimum if inclusive else value <= minimum
    if not math.isfinite(value) or too_small:
        bound = "at least" if inclusive else "above"
        raise ImproperlyConfigured(f"{name} must be a finite number {bound} {minimum:g}, not {raw!r}")
    return value


def _bool(name: str, default: bool) -> bool:
    """``env.bool(name)``, except that an empty value means "not set" (as in ``.env.example``)."""
    return env.bool(name, default=default) if env.str(name, default="").strip() else default


def _list(name: str, default: list[str]) -> list[str]:
    """Comma-separated values; an empty value means "not set"."""
    if not env.str(name, default="").strip():
        return default
    return [item.strip() for item in env.list(name) if item.strip()]


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    return int(_number(name, int, default, minimum=minimum))


def _seconds(name: str, default: float) -> float:
    return float(_number(name, float, default, minimum=0.0, inclusive=False))


# --- Mode ---------------------------------------------------------------------------------------
SEATCLOCK_MODE = env.str("SEATCLOCK_MODE", default="demo").strip().lower()
if SEATCLOCK_MODE not in {"demo", "production"}:
    raise ImproperlyConfigured(f"SEATCLOCK_MODE must be 'demo' or 'production', not {SEATCLOCK_MODE!r}")
SEATCLOCK_PRODUCTION = SEATCLOCK_MODE == "production"

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if SEATCLOCK_PRODUCTION:
        raise ImproperlyConfigured("SEATCLOCK_MODE=production needs SECRET_KEY set in the environment.")
    SECRET_KEY = "seatclock-demo-only-not-secret"

# Django's debug pages render settings and local variables: only for the local demo, which run.sh
# starts with DEBUG=true itself.  Off by default (serve.sh forces it off), refused in production.
DEBUG = _bool("DEBUG", False)
if DEBUG and SEATCLOCK_PRODUCTION:
    raise ImproperlyConfigured("DEBUG must be off with SEATCLOCK_MODE=production (debug pages show settings).")
ALLOWED_HOSTS = _list("ALLOWED_HOSTS", [] if SEATCLOCK_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS", [])

SEATCLOCK_VERSION = "1.0.0"

# --- Applications ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_prometheus",
    "axes",
    # Seatclock, ground floor first (docs/architecture.md)
    "core",
    "history",
    "timesync",
    "seats",
    "reservations",
    "simulation",
    "lab",
    "pages",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RequestLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ApiErrorEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ops.throttling.RateLimitHeadersMiddleware",
    # Admin login throttling (django-axes): last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
    "ops.metrics.RequestMetricsMiddleware",
]

# Paths are exactly the spec's; a trailing slash is accepted by the URL patterns themselves,
# so Django must never redirect.
APPEND_SLASH = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Overrides of third-party templates (drf-spectacular's ReDoc page, served offline).
        "DIRS": [BASE_DIR / "config" / "templates"],
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

# --- Database -----------------------------------------------------------------------------------
# The SQLite file, the experiment reports: a folder that must exist (the repository has var/).
SEATCLOCK_DATA_DIR = Path(env.str("SEATCLOCK_DATA_DIR", default=str(BASE_DIR / "var")))
DATABASE_URL = env.str("DATABASE_URL", default="")
# Per-request connections by default (safe under ASGI, where every request runs in its own
# thread: persistent connections there pile up until PostgreSQL refuses new ones).  The
# production server (serve.sh) keeps one connection per sync worker: SEATCLOCK_DB_CONN_MAX_AGE
# (seconds, health-checked before reuse).  SEATCLOCK_DB_POOL_SIZE instead turns on psycopg's
# pool (Django 5.1+), for ASGI servers.
SEATCLOCK_DB_CONN_MAX_AGE = _int("SEATCLOCK_DB_CONN_MAX_AGE", 0)
SEATCLOCK_DB_POOL_SIZE = _int("SEATCLOCK_DB_POOL_SIZE", 0)
# A database that does not answer must not hold a request (PostgreSQL only; seconds, 0 = off).
# Connect: the whole handshake (libpq rounds below 2 s up to 2).  Lock: the longest wait for a
# row lock, then 409 LOCK_TIMEOUT + Retry-After (pretix: 3 s).  Statement: the server cancels a
# longer statement; the client gives up one second later (a server that stopped answering).
# All three are connection parameters, sent once when a connection opens: no per-request cost.
SEATCLOCK_DB_CONNECT_TIMEOUT = _int("SEATCLOCK_DB_CONNECT_TIMEOUT", 2, minimum=1)
SEATCLOCK_DB_LOCK_TIMEOUT = float(_number("SEATCLOCK_DB_LOCK_TIMEOUT", float, 3.0, minimum=0.0))
SEATCLOCK_DB_STATEMENT_TIMEOUT = float(_number("SEATCLOCK_DB_STATEMENT_TIMEOUT", float, 5.0, minimum=0.0))
# The reservation rule's reads and writes on PostgreSQL as pre-built SQL, 2 statements instead of
# 6 ORM queries (reservations.access; the decision is the same Python).  Off: the ORM, as on SQLite.
SEATCLOCK_RULE_SQL = _bool("SEATCLOCK_RULE_SQL", True)
if DATABASE_URL:
    _database = env.db_url_config(DATABASE_URL)
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend plus a client-side deadline and a reconnect backoff (core/postgresql).
        _database["ENGINE"] = "core.postgresql"
        _database["OPTIONS"] = {
            **_database.get("OPTIONS", {}),
            "connect_timeout": SEATCLOCK_DB_CONNECT_TIMEOUT,
            "options": " ".join(
                f"-c {name}={round(seconds * 1000)}"
                for name, seconds in (
                    ("lock_timeout", SEATCLOCK_DB_LOCK_TIMEOUT),
                    ("statement_timeout", SEATCLOCK_DB_STATEMENT_TIMEOUT),
                )
            ),
        }
    if SEATCLOCK_DB_POOL_SIZE:
        _database["CONN_MAX_AGE"] = 0
        _database["OPTIONS"] = {
            **_database.get("OPTIONS", {}),
            "pool": {"min_size": 1, "max_size": SEATCLOCK_DB_POOL_SIZE},
        }
    else:
        _database["CONN_MAX_AGE"] = SEATCLOCK_DB_CONN_MAX_AGE
    _database["CONN_HEALTH_CHECKS"] = True
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SEATCLOCK_DATA_DIR / "seatclock.sqlite3",
        # IMMEDIATE transactions take SQLite's write lock at BEGIN, so "lock the seat, read what
        # the node sees, insert" is serialised exactly like select_for_update on PostgreSQL.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": SEATCLOCK_DATA_DIR / "test-seatclock.sqlite3"},
    }
DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache (rate-limit counters) ------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Redis pub/sub by default: a group event is one PUBLISH that each server process receives once
# and hands to its own subscribers.  channels-redis' list-based layer (core) keeps undelivered
# messages for a minute, but every consumer of a process contends on one receive lock: with 500
# subscribers per process an event took seconds to reach them all (docs/benchmarks.md).  A live
# feed loses nothing by pub/sub: the page re-reads the REST API on every (re)connection.
SEATCLOCK_CHANNEL_LAYER = env.str("SEATCLOCK_CHANNEL_LAYER", default="pubsub").strip().lower()
if SEATCLOCK_CHANNEL_LAYER not in {"pubsub", "core"}:
    raise ImproperlyConfigured(f"SEATCLOCK_CHANNEL_LAYER must be 'pubsub' or 'core', not {SEATCLOCK_CHANNEL_LAYER!r}")
# redis-py 8 caps an asyncio pool at 100 connections and raises beyond; a burst of subscribers
# (each group_add borrows one) needs more (serve.sh bench: 500 at once).
SEATCLOCK_REDIS_MAX_CONNECTIONS = _int("SEATCLOCK_REDIS_MAX_CONNECTIONS", 1000, minimum=1)
# Redis pub/sub channels ignore the database number: the prefix keeps two Seatclock
# installations (or test runs) sharing one Redis apart.
SEATCLOCK_CHANNEL_PREFIX = env.str("SEATCLOCK_CHANNEL_PREFIX", default="asgi")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                "channels_redis.pubsub.RedisPubSubChannelLayer"
                if SEATCLOCK_CHANNEL_LAYER == "pubsub"
                else "channels_redis.core.RedisChannelLayer"
            ),
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": SEATCLOCK_REDIS_MAX_CONNECTIONS}],
                "prefix": SEATCLOCK_CHANNEL_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "ops.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that does not answer must not hold a request for long (rate limits read
            # the cache on every API request, and fail open when it is unavailable).
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Longest a live event may hold the request that caused it (Redis hung or unreachable), seconds.
SEATCLOCK_EVENTS_TIMEOUT = _seconds("SEATCLOCK_EVENTS_TIMEOUT", 1.0)
# How often each WebSocket process checks, with a numbered heartbeat through the channel layer,
# that live events still reach it; on a failure, a gap or 5 heartbeats of silence its clients get
# a "stale" frame and are closed, so they reconnect and re-read the API (core/consumers.py).
SEATCLOCK_WS_HEARTBEAT = _seconds("SEATCLOCK_WS_HEARTBEAT", 1.0)
# Threads per server process running Django on complete HTTP requests (config/asgi.py,
# config/buffered_wsgi.py); each keeps its own database connection.
SEATCLOCK_HTTP_THREADS = _int("SEATCLOCK_HTTP_THREADS", 1, minimum=1)
# Where the seat-map page opens its WebSocket: 0 = the page's own host and port (run.sh: Daphne
# serves both, and so does serve.sh's Granian); a deployment serving /ws/ elsewhere sets it.
SEATCLOCK_WS_PUBLIC_PORT = _int("SEATCLOCK_WS_PUBLIC_PORT", 0)

# --- NTP and the clock model ----------------------------------------------------------------------
SEATCLOCK_NTP_SERVER = env.str("SEATCLOCK_NTP_SERVER", default="127.0.0.1:1123")
SEATCLOCK_NTP_TIMEOUT = _seconds("SEATCLOCK_NTP_TIMEOUT", 2.0)
SEATCLOCK_NTP_SAMPLES = _int("SEATCLOCK_NTP_SAMPLES", 4, minimum=1)
# A reply whose offset from the host clock exceeds this is refused (ntpd's panic threshold,
# 1000 s): the host clock is assumed disciplined, so a server that far off is the one that is
# wrong (DESIGN §3).  At most a day, the largest offset a node may carry.
SEATCLOCK_NTP_PANIC_SECONDS = _seconds("SEATCLOCK_NTP_PANIC_SECONDS", 1000.0)
if SEATCLOCK_NTP_PANIC_SECONDS > 86_400:
    raise ImproperlyConfigured(
        f"SEATCLOCK_NTP_PANIC_SECONDS must be at most 86400 (a day), not {SEATCLOCK_NTP_PANIC_SECONDS:g}"
    )
# The skew bound trusted by the ``bounded`` consistency mode, seconds (its uncertainty interval).
SEATCLOCK_MAX_CLOCK_OFFSET = _seconds("SEATCLOCK_MAX_CLOCK_OFFSET", 0.5)
# The commit_wait mode's drift assumption (Spanner's 200 ppm): a node's uncertainty ε grows by
# this much per second since its last sync, on top of that sync's error bound (DESIGN §2b).
SEATCLOCK_ASSUMED_DRIFT_PPM = _number("SEATCLOCK_ASSUMED_DRIFT_PPM", float, 200.0, minimum=0.0)
# Largest offset and drift an operator may inject (a day either way; ±100 %).
SEATCLOCK_MAX_INJECTED_OFFSET = 86_400.0
SEATCLOCK_MAX_DRIFT_PPM = 1_000_000.0

# --- API ------------------------------------------------------------------------------------------
SEATCLOCK_PAGE_DEFAULT_LIMIT = 100
SEATCLOCK_PAGE_MAX_LIMIT = 1000
# Rate limits (spec: 100 requests/min and 10 reservations/min per client), on in production.
SEATCLOCK_RATE_LIMITS = _bool("SEATCLOCK_RATE_LIMITS", SEATCLOCK_PRODUCTION)
SEATCLOCK_RATE_LIMIT_API = env.str("SEATCLOCK_RATE_LIMIT_API", default="100/min")
SEATCLOCK_RATE_LIMIT_RESERVATIONS = env.str("SEATCLOCK_RATE_LIMIT_RESERVATIONS", default="10/min")
# Trusted proxies in front, how many.  0 (the default): a client is its connection's address
# (REMOTE_ADDR) and X-Forwarded-For is ignored; N: the N-th address from the right of
# X-Forwarded-For, the one the outermost trusted proxy saw (ops.throttling.client_address).
NUM_PROXIES = _int("NUM_PROXIES", 0)
# Clock controls (/api/simulation/* writes, /api/time/sync) and operator actions: open in the
# demo, staff only in production (session or "Authorization: Token <key>").
SEATCLOCK_OPEN_CLOCK_CONTROLS = _bool("SEATCLOCK_OPEN_CLOCK_CONTROLS", not SEATCLOCK_PRODUCTION)
# Customers (DESIGN §6): in production DELETE /api/reservations/{id} needs the reservation's
# cancel token (header X-Cancel-Token, returned once in the 201) or a staff user, and readers
# who are not staff see customer names as initials ("J. D."), in responses and live events.
SEATCLOCK_CANCEL_TOKEN_REQUIRED = _bool("SEATCLOCK_CANCEL_TOKEN_REQUIRED", SEATCLOCK_PRODUCTION)
SEATCLOCK_PUBLIC_NAMES = _bool("SEATCLOCK_PUBLIC_NAMES", not SEATCLOCK_PRODUCTION)
# Idempotency-Key on POST /api/reservations: how long a key's first answer is replayed, seconds.
SEATCLOCK_IDEMPOTENCY_TTL = _seconds("SEATCLOCK_IDEMPOTENCY_TTL", 86_400.0)
# JSON bodies nested deeper than this are refused (400) before any view sees them.
SEATCLOCK_JSON_MAX_DEPTH = 32

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # Sessions only in production: in the demo a logged-in admin would otherwise need a
        # CSRF token for every API write from the seat-map page.
        *(["rest_framework.authentication.SessionAuthentication"] if SEATCLOCK_PRODUCTION else []),
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # Both limits (ops.throttling.LIMITS), counted in one Redis round trip per request.
    "DEFAULT_THROTTLE_CLASSES": ["ops.throttling.RateLimits"],
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
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
        "core.schema.strip_trailing_slashes",
        "core.schema.closed_request_bodies",
        "core.schema.document_common_errors",
    ],
}

# --- Auth, i18n, static -----------------------------------------------------------------------------
# Admin login throttling (django-axes): after SEATCLOCK_ADMIN_LOGIN_FAILURES wrong passwords
# from one client address, its logins are refused (429), the right password included, until
# SEATCLOCK_ADMIN_LOGIN_COOLOFF seconds have passed.  The address is the one the rate limits
# use (REMOTE_ADDR unless NUM_PROXIES declares proxies), never a header a client makes up.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SEATCLOCK_ADMIN_LOGIN_FAILURES = _int("SEATCLOCK_ADMIN_LOGIN_FAILURES", 5, minimum=1)
SEATCLOCK_ADMIN_LOGIN_COOLOFF = _seconds("SEATCLOCK_ADMIN_LOGIN_COOLOFF", 900.0)
AXES_FAILURE_LIMIT = SEATCLOCK_ADMIN_LOGIN_FAILURES
AXES_COOLOFF_TIME = timedelta(seconds=SEATCLOCK_ADMIN_LOGIN_COOLOFF)
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "ops.throttling.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Instants to the microsecond in the admin and templates (a 10 s skew is invisible at minutes).
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders too, so a forgotten collectstatic never breaks
# /docs in the demo.
WHITENOISE_USE_FINDERS = True

# --- Production hardening -------------------------------------------------------------------------
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", SEATCLOCK_PRODUCTION)
# Probes and Prometheus scrape over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _bool("SECURE_PROXY_SSL_HEADER", False) else None
SESSION_COOKIE_SECURE = SEATCLOCK_PRODUCTION
CSRF_COOKIE_SECURE = SEATCLOCK_PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 31_536_000 if SEATCLOCK_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SEATCLOCK_PRODUCTION)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", SEATCLOCK_PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Error reports (debug pages, mailed reports) never show a connection setting or a password in
# a URL, whatever its name (core/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.reporting.SecretSafeExceptionReporterFilter"

# Seatclock's own loggers (seatclock.*) log at SEATCLOCK_LOG_LEVEL; libraries only warnings and
# errors, so no library's INFO line (matplotlib building its font cache…) lands in a command's output.
SEATCLOCK_LOG_LEVEL = env.str("SEATCLOCK_LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"seatclock": {"level": SEATCLOCK_LOG_LEVEL}, "django.request": {"level": "ERROR"}},
}
