"""Settings shared by every environment. Each value comes from one ``env`` object (12-factor).

Environment-specific modules (``local``, ``test``, ``production``) import this one and change only what
differs. Production leaves secrets without defaults, so a missing one stops the process at start-up.
"""

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Old keys still accepted when checking signatures, so that rotating SECRET_KEY does not break the
# unsubscribe and preference links in emails already sent.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Absolute base URL of the site: every link in an email is built on it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "mailer",
    "subscribers",
    "campaigns",
    "automations",
    "webhooks",
    "api",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.settings",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "newsletter.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "newsletter.urls"
WSGI_APPLICATION = "newsletter.wsgi.application"

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
                "subscribers.context_processors.brand",
            ],
        },
    },
]

# --- Database: DATABASE_URL, or the embedded SQLite file under var/ -------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'newsletter.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL lets the web server, the worker and beat read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker for Celery, cache for rate limits --------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")


def redis_url_database(redis_url: str) -> int:
    """The database number a Redis URL names: its query's ``db`` (redis-py prefers it to the path's), else the path's
    (``redis://host/N``; a ``unix://`` URL's path is its socket), else 0."""
    url = urlsplit(redis_url)
    if (database := dict(parse_qsl(url.query)).get("db")) is not None:
        return int(database)
    return int(url.path.strip("/") or 0) if url.scheme != "unix" else 0


def redis_settings(redis_url: str) -> tuple[str, dict]:
    """Celery broker URL and Django CACHES for one Redis URL (``redis://`` or ``unix://`` socket)."""
    broker = redis_url
    if redis_url.startswith("unix://"):
        # kombu names the database of a socket connection "virtual_host".
        path = redis_url.removeprefix("unix://").partition("?")[0]
        broker = f"redis+socket://{path}?virtual_host={redis_url_database(redis_url)}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "nl",
            "TIMEOUT": 300,
        }
    }
    return broker, caches


CELERY_BROKER_URL, CACHES = redis_settings(REDIS_URL or "redis://127.0.0.1:6379/0")

# Queues by role (docs/operations.md, "Workers and beat"): each role has workers of its own, so a long send never
# holds up a confirmation email or the processing of a bounce. Everything not routed here (the sweeper and the
# other beat tasks, imports, exports, retention, purges, and the rest of a large send's audience, which must not wait
# for a sends process to come free) goes to "default". Outgoing webhooks have their own: a receiver that is slow or
# down holds up only its own deliveries.
TASK_QUEUE_NAMES = ("sends", "automations", "transactional", "feedback", "webhooks", "default")
# Declared, so that a worker started without -Q consumes all six (development, tests, the smallest setups).
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in TASK_QUEUE_NAMES)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "campaigns.tasks.send_work_task": {"queue": "sends"},
    # Automations have their own queue: a long campaign send never holds up a welcome email, nor the reverse.
    "automations.tasks.automations_work_task": {"queue": "automations"},
    "automations.tasks.automations_tick_task": {"queue": "automations"},
    "automations.tasks.automations_date_triggers_task": {"queue": "automations"},
    "campaigns.tasks.feedback_process_task": {"queue": "feedback"},
    "campaigns.tasks.reputation_guard_task": {"queue": "feedback"},
    "subscribers.tasks.transactional_email_send_task": {"queue": "transactional"},
    "subscribers.tasks.public_signup_task": {"queue": "transactional"},
    "subscribers.tasks.password_reset_request_task": {"queue": "transactional"},
    "campaigns.tasks.campaign_test_send_task": {"queue": "transactional"},
    "webhooks.tasks.webhook_deliver_task": {"queue": "webhooks"},
    "webhooks.tasks.webhooks_sweep_task": {"queue": "webhooks"},
}
# A send loop that loses the broker keeps going (it reconnects to Redis itself): cancelling it would cut its SES
# calls short and leave rows in doubt.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The send page counts an audience of up to this many subscriptions on its topics while it loads; a larger one in the
# background, shown with its age, and counted again when older than AUDIENCE_COUNT_FRESH_SECONDS (docs/sending.md).
AUDIENCE_COUNT_INLINE_MAX = env.int("AUDIENCE_COUNT_INLINE_MAX", default=50_000)
AUDIENCE_COUNT_FRESH_SECONDS = env.int("AUDIENCE_COUNT_FRESH_SECONDS", default=60)
# How often the clicks and opens counted in Redis are written to the database (reports write them first anyway).
TALLY_FLUSH_SECONDS = env.float("TALLY_FLUSH_SECONDS", default=5.0)
# How often beat asks whether an automation's run is due (one indexed query); a wait ends at most this much late.
AUTOMATION_TICK_SECONDS = env.float("AUTOMATION_TICK_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE: dict = {
    # Celery messages only wake workers: this finds work no worker holds, and starts scheduled sends.
    "sends-sweep": {"task": "campaigns.tasks.sends_sweep_task", "schedule": 60.0},
    # Copies of people's data are deleted when their links expire.
    "access-exports-purge": {"task": "subscribers.tasks.access_exports_purge_task", "schedule": 3600.0},
    # Retention (docs/privacy.md): opt-ins never confirmed, and raw SES events, once their time is up.
    "pending-opt-ins-purge": {"task": "subscribers.tasks.pending_opt_ins_purge_task", "schedule": 86400.0},
    "feedback-payloads-purge": {"task": "campaigns.tasks.feedback_payloads_purge_task", "schedule": 86400.0},
    # Uploaded CSV files of subscriber imports are deleted when the import ends, or after IMPORT_FILE_HOURS.
    "import-files-purge": {"task": "subscribers.tasks.subscriber_import_files_purge_task", "schedule": 3600.0},
    # Webhook retries whose task was lost, endpoints failing for five days, rotated secrets whose overlap is over.
    # On the webhooks queue, beside the deliveries: a backlog there never delays the other sweeps, nor they it.
    "webhooks-sweep": {"task": "webhooks.tasks.webhooks_sweep_task", "schedule": 30.0},
    # Answers kept for Idempotency-Key replays are forgotten after 24 hours (docs/api.md).
    "api-idempotency-purge": {"task": "api.tasks.idempotency_records_purge_task", "schedule": 3600.0},
    # Clicks and opens are counted in Redis and written to the database in batches (docs/campaigns.md).
    "tally-flush": {"task": "campaigns.tasks.tally_flush_task", "schedule": TALLY_FLUSH_SECONDS},
    # Automations (docs/automations.md): one indexed query for due runs, waking a worker only when one is due; and
    # the date triggers, whose hour is checked in the shop's time zone.
    "automations-tick": {"task": "automations.tasks.automations_tick_task", "schedule": AUTOMATION_TICK_SECONDS},
    "automations-date-triggers": {"task": "automations.tasks.automations_date_triggers_task", "schedule": 300.0},
}
# --- Outgoing webhooks (docs/webhooks.md) ----------------------------------------------------------------
# Seconds to wait after each failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (eight attempts in all).
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
# How long the previous secret goes on signing after a rotation.
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24.0)
# Deliveries a worker claims at a time; how long one task delivers before handing over to a new one; how many tasks
# the sweep queues at most when it finds due work.
WEBHOOK_CLAIM_BATCH = env.int("WEBHOOK_CLAIM_BATCH", default=20)
WEBHOOK_TASK_SECONDS = env.float("WEBHOOK_TASK_SECONDS", default=120.0)
WEBHOOK_SWEEP_WAKE = env.int("WEBHOOK_SWEEP_WAKE", default=4)
# Posting to private, loopback, link-local or reserved addresses is refused unless this is true (local and test
# settings only: production never posts inside its own network).
WEBHOOKS_ALLOW_PRIVATE_URLS = env.bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)

RETENTION_PENDING_OPT_IN_DAYS = env.int("RETENTION_PENDING_OPT_IN_DAYS", default=30)
RETENTION_SES_EVENT_DAYS = env.int("RETENTION_SES_EVENT_DAYS", default=90)

# --- Auth ------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "subscribers.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/account/"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
# Copies of people's data (zips): private, never served as media; each is deleted after ACCESS_EXPORT_DAYS.
ACCESS_EXPORT_ROOT = env.path("ACCESS_EXPORT_ROOT", default=BASE_DIR / "var" / "exports")
ACCESS_EXPORT_DAYS = env.int("ACCESS_EXPORT_DAYS", default=7)
# Copies of their data a customer may ask for from their account.
ACCESS_EXPORT_RATE = env.str("ACCESS_EXPORT_RATE", default="3/d")
# CSV imports of subscribers (docs/imports.md). Uploaded files are private (never served as media) and are deleted
# when their import ends or after IMPORT_FILE_HOURS, whichever comes first.
IMPORT_FILE_ROOT = env.path("IMPORT_FILE_ROOT", default=BASE_DIR / "var" / "imports")
IMPORT_FILE_HOURS = env.int("IMPORT_FILE_HOURS", default=24)
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=256 * 1024 * 1024)
IMPORT_MAX_LINE_BYTES = env.int("IMPORT_MAX_LINE_BYTES", default=1024 * 1024)
# Row errors kept for the report (all are counted).
IMPORT_MAX_ERRORS = env.int("IMPORT_MAX_ERRORS", default=1000)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "SAMEORIGIN"  # Wagtail's preview shows pages in an iframe of the admin.

# Content-Security-Policy (django-csp; docs/operations.md, "Content Security Policy"). The site's pages load
# scripts, styles, images and fonts from this origin only, run no inline script or style, and may be framed only by
# this origin (the admin's preview).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
    },
}
# The Wagtail admin (newsletter.csp): the same, except what Wagtail's own pages need: its scripts insert inline
# scripts and styles (the page editor, the preview, menus), it sets style attributes, and the dashboard asks
# releases.wagtail.org for the latest version. Our own admin templates have no inline script or style.
CSP_ADMIN_PREFIXES = ["/admin/", "/django-admin/"]
CONTENT_SECURITY_POLICY_ADMIN = {
    "DIRECTIVES": {
        **CONTENT_SECURITY_POLICY["DIRECTIVES"],
        "script-src": [SELF, UNSAFE_INLINE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF, "https://releases.wagtail.org"],
    },
}

# --- Wagtail -----------------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = env.str("BRAND_NAME", default="Larkspur & Lune")
WAGTAILADMIN_BASE_URL = SITE_URL
WAGTAILDOCS_EXTENSIONS = ["csv", "pdf", "txt", "zip"]
WAGTAILADMIN_LOGIN_URL = "/admin/login/"
# The admin's login form, with the shop's limits on password guessing.
WAGTAILADMIN_USER_LOGIN_FORM = "subscribers.forms.AdminLoginForm"
# No Gravatar: it would send a hash of every staff address to a third party on each admin page.
WAGTAIL_GRAVATAR_PROVIDER_URL = None

# --- Brand (until campaigns add Wagtail site settings) ---------------------------------------------
BRAND_NAME = WAGTAIL_SITE_NAME
BRAND_POSTAL_ADDRESS = env.str("BRAND_POSTAL_ADDRESS", default="12 Assay Lane, Birmingham B18 6AA, United Kingdom")

# --- Subscriptions and privacy ---------------------------------------------------------------------
# Key for the HMAC that names an address in the suppression list and in erasure tombstones. It must
# outlive SECRET_KEY rotations: rotating it would forget every suppression.
SUPPRESSION_HMAC_KEY = env.str("SUPPRESSION_HMAC_KEY", default="")
CONFIRM_TOKEN_MAX_AGE_DAYS = env.int("CONFIRM_TOKEN_MAX_AGE_DAYS", default=7)
EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS = env.int("EMAIL_CHANGE_TOKEN_MAX_AGE_DAYS", default=2)
SUBSCRIBE_RATE_PER_IP = env.str("SUBSCRIBE_RATE_PER_IP", default="20/h")
SUBSCRIBE_RATE_PER_ADDRESS = env.str("SUBSCRIBE_RATE_PER_ADDRESS", default="3/h")
# Verification and change-of-email links an account may ask for.
ACCOUNT_EMAIL_RATE = env.str("ACCOUNT_EMAIL_RATE", default="5/h")
# Password attempts on the "erase my account" form, per account.
ACCOUNT_ERASE_RATE = env.str("ACCOUNT_ERASE_RATE", default="5/h")
# Registrations that send an email (a new account's address link, or the notice to a known address's owner),
# per client IP; per address they are limited at the ACCOUNT_EMAIL_RATE rate.
REGISTER_RATE_PER_IP = env.str("REGISTER_RATE_PER_IP", default="20/h")
# Password reset links: how long one works, and how many may be asked for per client IP and per address.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_HOURS", default=2) * 3600
PASSWORD_RESET_RATE_PER_IP = env.str("PASSWORD_RESET_RATE_PER_IP", default="10/h")
PASSWORD_RESET_RATE_PER_ADDRESS = env.str("PASSWORD_RESET_RATE_PER_ADDRESS", default="3/h")
# Password guessing, on the shop's login and the admin's (subscribers/login_throttle.py): this many failures
# within the window pause logging in with that address, or from that client IP, for the cool-down.
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=30)
LOGIN_FAILURE_WINDOW_MINUTES = env.float("LOGIN_FAILURE_WINDOW_MINUTES", default=15)
LOGIN_COOL_DOWN_MINUTES = env.float("LOGIN_COOL_DOWN_MINUTES", default=15)
# Bank holidays (ISO dates, comma-separated) on which a data-protection request's deadline cannot fall: it moves
# to the next working day, as it does from a weekend (docs/privacy.md).
RIGHTS_REQUEST_HOLIDAYS = env.list("RIGHTS_REQUEST_HOLIDAYS", default=[])
# Number of leading bits of an IP address kept in the consent ledger (the rest is zeroed).
CONSENT_IPV4_PREFIX = 24
CONSENT_IPV6_PREFIX = 48

# Rate limits and the consent ledger use REMOTE_ADDR. Behind a proxy, have the WSGI server set it from
# the proxy's header (for example gunicorn's --forwarded-allow-ips); a raw X-Forwarded-For can be forged.

# --- Amazon SES --------------------------------------------------------------------------------------
SES_REGION = env.str("SES_REGION", default="eu-west-2")
# Empty in production (boto3 talks to AWS); the demo and tests point it at the local SES endpoint.
SES_ENDPOINT_URL = env.str("SES_ENDPOINT_URL", default="") or None
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", default="") or None
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="")
# Sender identities verified in SES that campaign authors may choose from ("Name <address>", comma-separated).
CAMPAIGN_SENDERS = env.list("CAMPAIGN_SENDERS", default=[])
# Sending pipeline. The whole fleet's messages per second: SES's MaxSendRate, read from the account
# (GetAccount) unless SES_MAX_SEND_RATE overrides it.
SES_MAX_SEND_RATE = env.float("SES_MAX_SEND_RATE", default=None)
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=200)
# --- Automations (docs/automations.md) ---------------------------------------------------------------------
# The shop's time zone: a date trigger's day and hour, a wait "until Monday at 9", and segments' days are in it.
SHOP_TIME_ZONE = env.str("SHOP_TIME_ZONE", default="Europe/London")
try:
    ZoneInfo(SHOP_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as err:
    raise ImproperlyConfigured(f"SHOP_TIME_ZONE is not a time zone name (Europe/London): {SHOP_TIME_ZONE!r}.") from err
# Runs a worker claims at once; how long it holds them (a dead worker's runs fall due again after this).
AUTOMATION_BATCH_SIZE = env.int("AUTOMATION_BATCH_SIZE", default=200)
AUTOMATION_LEASE_SECONDS = env.int("AUTOMATION_LEASE_SECONDS", default=120)
# Workers woken when runs are due (by beat's tick, or when many people enter at once): the processes that share them.
AUTOMATION_WORKERS = env.int("AUTOMATION_WORKERS", default=2)
# After SES refused an email for now (throttling, 5xx), the step is taken again this much later.
AUTOMATION_RETRY_SECONDS = env.int("AUTOMATION_RETRY_SECONDS", default=30)
# From how many people entered at once the runs' table is analyzed straight away (PostgreSQL), so that the
# workers' claims are planned for the crowd.
AUTOMATION_ANALYZE_FROM = env.int("AUTOMATION_ANALYZE_FROM", default=10_000)
# One wake-up works at most this long, then gives the process back (beat wakes a worker again if runs are due).
AUTOMATION_WORK_SECONDS = env.float("AUTOMATION_WORK_SECONDS", default=300.0)
SEND_LEASE_SECONDS = env.int("SEND_LEASE_SECONDS", default=120)
SEND_WORKERS_PER_SEND = env.int("SEND_WORKERS_PER_SEND", default=2)
# SES calls one worker process has open at once. It is also the most rows one commit marks as attempting, so a
# worker that dies leaves at most this many rows in doubt.
SEND_CONCURRENCY = env.int("SEND_CONCURRENCY", default=8)
# How long a worker goes on reconnecting to PostgreSQL or Redis, holding what SES told it, before it gives up.
SEND_RECOVER_SECONDS = env.int("SEND_RECOVER_SECONDS", default=60)
# A worker that finds only rows waiting out a retry backoff waits for them when the first is due within this long;
# for a later one it queues a wake-up at that time and frees its process.
SEND_RETRY_WAIT_SECONDS = env.float("SEND_RETRY_WAIT_SECONDS", default=15.0)
# Subscribers per chunk of a send's audience snapshot: the first chunk is written when the send starts, the
# rest while it sends, so the first message goes out within a second or two of "Send" whatever the audience.
SEND_SNAPSHOT_CHUNK = env.int("SEND_SNAPSHOT_CHUNK", default=50_000)
# The first chunk, written in the start's own transaction, is smaller: 50,000 rows took 1.3 s before the first
# message could leave, 10,000 take 0.26 s (docs/BENCHMARKS.md), and at any sending rate they last longer than the
# next chunk takes to write.
SEND_SNAPSHOT_FIRST_CHUNK = env.int("SEND_SNAPSHOT_FIRST_CHUNK", default=10_000)
# At most N campaigns to one person in D days, as "N/D" (for example "2/7"); empty: no cap (docs/segments.md).
SEND_FREQUENCY_CAP = env.str("SEND_FREQUENCY_CAP", default="").strip()
if SEND_FREQUENCY_CAP and not re.fullmatch(r"[1-9][0-9]{0,2}/[1-9][0-9]{0,3}", SEND_FREQUENCY_CAP):
    raise ImproperlyConfigured(
        f"SEND_FREQUENCY_CAP is campaigns/days, such as 2/7 (at most 2 in 7 days); got {SEND_FREQUENCY_CAP!r}."
    )
# Minutes after its SES call a row still in doubt, with no SES event since, is offered to staff to send again.
SEND_UNCONFIRMED_AFTER_MINUTES = env.int("SEND_UNCONFIRMED_AFTER_MINUTES", default=60)
# Test sends one editor may make (each to at most ten addresses).
CAMPAIGN_TEST_RATE = env.str("CAMPAIGN_TEST_RATE", default="30/h")
# SES feedback through SNS (docs/feedback.md). Only notifications from these topics are accepted.
SES_SNS_TOPIC_ARNS = env.list("SES_SNS_TOPIC_ARNS", default=[])
SNS_MAX_BODY_BYTES = env.int("SNS_MAX_BODY_BYTES", default=256 * 1024)
SNS_MAX_AGE_SECONDS = env.int("SNS_MAX_AGE_SECONDS", default=3600)
SNS_CERT_TIMEOUT_SECONDS = env.float("SNS_CERT_TIMEOUT_SECONDS", default=5.0)
# Dotted path of the function that fetches SNS certificates and subscribe URLs; empty: direct HTTPS.
SNS_HTTP_FETCH = env.str("SNS_HTTP_FETCH", default="")
# Soft bounces of one address within the window that suppress it like a hard bounce.
# Reports show any count below this as "<N", so that no small group can be singled out.
REPORT_MIN_GROUP_SIZE = env.int("REPORT_MIN_GROUP_SIZE", default=5)
# A send's report over more recipients than this is counted in the background, shown with its age, and counted again
# when older than REPORT_FRESH_SECONDS (docs/campaigns.md).
REPORT_INLINE_MAX = env.int("REPORT_INLINE_MAX", default=50_000)
# The dashboard counts subscribers per topic while it loads up to this many subscriptions; above, it shows kept counts
# with their age (docs/subscriptions.md).
TOPIC_COUNTS_INLINE_MAX = env.int("TOPIC_COUNTS_INLINE_MAX", default=50_000)
# The admin's listings of subscribers, subscriptions and consent events keep their count between pages for a minute
# over a table of more rows than this, instead of counting it for every page (docs/subscriptions.md).
ADMIN_COUNT_KEPT_ABOVE = env.int("ADMIN_COUNT_KEPT_ABOVE", default=100_000)
REPORT_FRESH_SECONDS = env.int("REPORT_FRESH_SECONDS", default=60)
SOFT_BOUNCE_LIMIT = env.int("SOFT_BOUNCE_LIMIT", default=3)
SOFT_BOUNCE_WINDOW_DAYS = env.int("SOFT_BOUNCE_WINDOW_DAYS", default=30)
# The reputation guard pauses running sends above these rates (SES reviews accounts at 5% and 0.1%).
REPUTATION_BOUNCE_LIMIT = env.float("REPUTATION_BOUNCE_LIMIT", default=0.04)
REPUTATION_COMPLAINT_LIMIT = env.float("REPUTATION_COMPLAINT_LIMIT", default=0.0008)
REPUTATION_WINDOW_HOURS = env.int("REPUTATION_WINDOW_HOURS", default=24)
REPUTATION_MIN_SENT = env.int("REPUTATION_MIN_SENT", default=500)
# After a bounce or complaint the guard looks again this many seconds later, once for the whole burst (a burst
# is judged in one check, never dropped).
REPUTATION_CHECK_SECONDS = env.int("REPUTATION_CHECK_SECONDS", default=2)
SES_CONNECT_TIMEOUT = env.float("SES_CONNECT_TIMEOUT", default=5.0)
SES_READ_TIMEOUT = env.float("SES_READ_TIMEOUT", default=15.0)
# Shows the staff-only page listing every email the local SES endpoint received (demo only).
OUTBOX_ENABLED = env.bool("OUTBOX_ENABLED", default=False)

# --- REST API (docs/api.md) -------------------------------------------------------------------------
# Requests per API key (DRF's rate syntax: "600/min", "20/s", "10000/h"), counted in the Redis cache.
API_RATE = env.str("API_RATE", default="600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.ApiJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{WAGTAIL_SITE_NAME} newsletter API",
    "DESCRIPTION": "Subscribers, topics, consent and privacy rights; campaigns and their sends; outgoing webhook "
    "endpoints and deliveries. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["api.schema.api_endpoints_only"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.receipt_closed"],
    # Swagger UI's files from the drf-spectacular-sidecar package, served as our static files: no outside assets.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two resources have a "state" with different values: each enum gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "SendStateEnum": "campaigns.models.SendState",
        "WebhookDeliveryStateEnum": "webhooks.models.DeliveryState",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
        "django_tasks": {"level": "WARNING"},
    },
}


def require(name: str, value: str | None) -> str:
    """Fail at start-up, naming the variable, when a required setting is empty."""
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable; it has no default in production.")
    return value
