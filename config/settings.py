"""The one settings module.

Everything is read from the environment (and an optional `.env` file) through one `environ.Env`. Production is
`DEBUG=0` (the default): secrets have no default there and the process refuses to start without them. With
`DATABASE_URL` / `REDIS_URL` unset, the embedded default is used: a SQLite file and the embedded Redis that
`make run` starts on a unix socket under `var/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.observability import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)  # the SQLite file, the embedded Redis socket and test artifacts live here

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------- CORE
DEBUG = env.bool("DEBUG", default=False)

# A fixed, public development key: only ever used with DEBUG on.
_DEV_SECRET_KEY = "dev-insecure-7b1f0c2e9a4d4a8f9d3c5e6f1a2b3c4d-do-not-use-in-production"
# A fixed, public Fernet key for development data (sandbox tokens): only ever used with DEBUG on.
_DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} must be set when DEBUG is off (production). See .env.example for how to generate one."
    )


SECRET_KEY = _required_in_production("SECRET_KEY", _DEV_SECRET_KEY)
# A comma-separated list of Fernet keys: the first encrypts, all decrypt (rotate by prepending a new key).
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required_in_production("FIELD_ENCRYPTION_KEY", _DEV_FIELD_ENCRYPTION_KEY).split(",")
    if k.strip()
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_rq",
    "work",
    "pos",
    "integration",
    "dashboard",
]

MIDDLEWARE = [
    # First: every later log line of the request carries its request id.
    "config.observability.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "config.csp.DjangoRqPolicyMiddleware",  # after Django's: it sets the policy django-rq's admin pages get
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pos.tenancy.RetailerMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pos.tenancy.retailer_context",
                "dashboard.context_processors.navigation",
                "dashboard.context_processors.attention",
            ],
        },
    },
]

# ---------------------------------------------------------------- DATABASES
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the worker share the file without "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# Served over ASGI (config/asgi.py turns this on), each request runs in a thread of its own: a connection kept per
# thread would leak, so connections come from psycopg's pool instead of persisting (Django's databases docs). Per
# web worker process; a request waits up to DATABASE_POOL_TIMEOUT seconds for a free connection.
DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
if DATABASE_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- AUTH
AUTH_USER_MODEL = "pos.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins allowed per username and per client address within the window before the form refuses.
LOGIN_THROTTLE_ATTEMPTS = env.int("LOGIN_THROTTLE_ATTEMPTS", default=5)
LOGIN_THROTTLE_WINDOW_SECONDS = env.int("LOGIN_THROTTLE_WINDOW_SECONDS", default=900)
# How many reverse proxies (load balancer, ingress) stand in front of the app and append the address they saw to
# X-Forwarded-For. 0: REMOTE_ADDR is the client (the header is then ignored: anyone can send it). Behind one
# proxy REMOTE_ADDR is the proxy's, and throttling by it would lock every merchant out at once.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)

# ---------------------------------------------------------------- I18N
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- STATIC
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# ---------------------------------------------------------------- REDIS / RQ
# Unset: the embedded Redis that `make run` starts on a unix socket of this checkout (never clashes with :6379).
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default=f"unix://{EMBEDDED_REDIS_SOCKET}?db=0")
RQ_QUEUES = {
    # Order syncs from webhooks and reconciliation: the queue that must stay short.
    "webhooks": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
    # Stock and price pushes, fulfilment write-backs, digests.
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
    # Historical imports: long, low priority.
    "imports": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
}
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "work.worker.Worker"}
# Durable work (see work/kernel.py): how often an idle worker looks at the database for due work (the longest a
# lost bell can delay anything), how long one drain runs before handing over, how many bells may wait per queue,
# and how many workers may serve one store at once.
WORK_POLL_SECONDS = env.float("WORK_POLL_SECONDS", default=2.0)
WORK_DRAIN_SECONDS = env.float("WORK_DRAIN_SECONDS", default=20.0)
WORK_BELL_CAP = env.int("WORK_BELL_CAP", default=8)
WORK_SHARD_CONCURRENCY = env.int("WORK_SHARD_CONCURRENCY", default=2)
# A long step of low-priority work (an import window) gives way after its page in hand to live work of another
# store that has waited this long for a worker (an idle worker's bell takes it first when there is one).
WORK_YIELD_AFTER_SECONDS = env.float("WORK_YIELD_AFTER_SECONDS", default=0.25)
# A webhook's order sync waits this long, so the two or three webhooks BigCommerce sends for one change (updated,
# statusUpdated, refund/created) are one sync and one fetch, not a second fetch mid-sync.
ORDER_SYNC_SETTLE_SECONDS = env.float("ORDER_SYNC_SETTLE_SECONDS", default=1.0)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="pos"),
    }
}
RQ_SHOW_ADMIN_LINK = True

# ---------------------------------------------------------------- EMAIL
# EMAIL_URL, e.g. smtp+tls://user:password@mail.example.com:587 (console output in development).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {k: v for k, v in _smtp_options.items() if v}
        if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="POS back office <noreply@localhost>")

# ---------------------------------------------------------------- BIGCOMMERCE
# Where BigCommerce sends webhooks: this deployment's public HTTPS origin (BigCommerce only delivers to :443).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Linking refuses a PUBLIC_BASE_URL that is not https on port 443 (on by default in production; the demo and the
# tests receive the sandbox's webhooks over plain http).
BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS = env.bool("BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS", default=not DEBUG)
BIGCOMMERCE_API_URL = env.str("BIGCOMMERCE_API_URL", default="https://api.bigcommerce.com")
# A link may carry its own API base URL (a sandbox store's) in development only: with DEBUG off every link talks
# to BIGCOMMERCE_API_URL, and linking with another address is refused. Not an environment variable on purpose.
BIGCOMMERCE_LINK_API_URLS = DEBUG
BIGCOMMERCE_LOGIN_URL = env.str("BIGCOMMERCE_LOGIN_URL", default="https://login.bigcommerce.com")
BIGCOMMERCE_CLIENT_ID = env.str("BIGCOMMERCE_CLIENT_ID", default="")
BIGCOMMERCE_CLIENT_SECRET = env.str("BIGCOMMERCE_CLIENT_SECRET", default="")
# (connect, read) seconds for every BigCommerce call.
BIGCOMMERCE_TIMEOUT = (
    env.float("BIGCOMMERCE_CONNECT_TIMEOUT", default=3.05),
    env.float("BIGCOMMERCE_READ_TIMEOUT", default=30),
)
# Longest a worker waits for the store's quota (or a 429's reset) before the call raises ApiRateLimited and the
# job reschedules instead; one BigCommerce window is 30 s.
BIGCOMMERCE_RATE_LIMIT_MAX_WAIT = env.float("BIGCOMMERCE_RATE_LIMIT_MAX_WAIT", default=30.0)
# Share of each window's quota that bulk traffic (historical imports) leaves to live order syncs.
BIGCOMMERCE_BULK_RESERVE = env.float("BIGCOMMERCE_BULK_RESERVE", default=0.25)
# Historical import: orders per page (BigCommerce's maximum, 250) and the most pages read before their refunds
# are asked for (a window ends sooner when one more page would take its refunded orders past one refunds call's
# 250). Tests make them small to watch a run page by page.
HISTORICAL_IMPORT_PAGE_SIZE = env.int("HISTORICAL_IMPORT_PAGE_SIZE", default=250)
HISTORICAL_IMPORT_WINDOW_PAGES = env.int("HISTORICAL_IMPORT_WINDOW_PAGES", default=16)
# The next window of pages is read (and parsed) in a thread of the worker; on: in a process of the worker's own,
# off its GIL. The process takes a quarter of the worker's own CPU off the import's path but costs the machine about
# 0.3 s of CPU per 1,000 orders more (pickling the window back): worth it only where each worker has a core to
# spare (deployed one worker per core, it was slower: bench/README.md, "Third pass on the import").
HISTORICAL_IMPORT_FETCH_PROCESS = env.bool("HISTORICAL_IMPORT_FETCH_PROCESS", default=False)
# Largest webhook body accepted (BigCommerce's are a few hundred bytes).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
# Any request's body, as served over ASGI (config/request_limits.py): at most this size (413), arrived whole
# within this many seconds (408). No page uploads files; forms and webhooks are a few kilobytes.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=2621440)
REQUEST_BODY_TIMEOUT_SECONDS = env.float("REQUEST_BODY_TIMEOUT_SECONDS", default=30.0)
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", default=300)
SYNC_LOG_RETENTION_DAYS = env.int("SYNC_LOG_RETENTION_DAYS", default=30)
# Stock and price pushes wait this long after a change, so a burst of changes goes in one batched push.
STOCK_PUSH_DEBOUNCE_SECONDS = env.int("STOCK_PUSH_DEBOUNCE_SECONDS", default=5)
# How often BigCommerce's stock levels are read back and levels edited there set back to the POS's (drift).
STOCK_DRIFT_INTERVAL_SECONDS = env.int("STOCK_DRIFT_INTERVAL_SECONDS", default=900)

# ---------------------------------------------------------------- SECURITY
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default for the admin
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # /healthz is probed, and /metrics scraped, per instance over the internal network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# ---------------------------------------------------------------- LOGGING
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "plain" (text lines) or "json" (one JSON object per line, with the context fields; see config/observability.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)

# ---------------------------------------------------------------- ERROR REPORTS AND METRICS
# Error reports go to Sentry when SENTRY_DSN is set (scrubbed of secrets and e-mail addresses: config/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
# Share of requests and jobs traced for Sentry's performance pages (0: errors only).
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
# Frame variables in reports help debugging but carry customers' names and addresses (secrets and e-mail addresses
# are masked in them): off unless turned on.
SENTRY_INCLUDE_LOCAL_VARIABLES = env.bool("SENTRY_INCLUDE_LOCAL_VARIABLES", default=False)
if SENTRY_DSN:
    from config.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        include_local_variables=SENTRY_INCLUDE_LOCAL_VARIABLES,
    )
# GET /metrics (Prometheus) answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404. Web and
# worker processes of one machine share their figures through the directory in PROMETHEUS_MULTIPROC_DIR (an
# environment variable read by prometheus_client itself; see the README's production section).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_dir == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]  # an empty value would put prometheus_client in multiprocess mode
elif _metrics_dir is not None and not Path(_metrics_dir).is_dir():
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR is not a directory: {_metrics_dir}")
