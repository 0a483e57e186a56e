"""Production settings: secrets have no defaults, transport security is on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, env, require

DEBUG = False
SECRET_KEY = require("SECRET_KEY", env.str("SECRET_KEY", default=""))
SUPPRESSION_HMAC_KEY = require("SUPPRESSION_HMAC_KEY", env.str("SUPPRESSION_HMAC_KEY", default=""))
require("DATABASE_URL", env.str("DATABASE_URL", default=""))
require("REDIS_URL", env.str("REDIS_URL", default=""))
SITE_URL = require("SITE_URL", env.str("SITE_URL", default="")).rstrip("/")
if not SITE_URL.startswith("https://"):
    # Every link in every email is built on it; RFC 8058 one-click unsubscribe requires HTTPS.
    raise ImproperlyConfigured(f"SITE_URL must start with https:// in production (it is {SITE_URL!r}).")
DEFAULT_FROM_EMAIL = require("DEFAULT_FROM_EMAIL", env.str("DEFAULT_FROM_EMAIL", default=""))
SES_CONFIGURATION_SET = require("SES_CONFIGURATION_SET", env.str("SES_CONFIGURATION_SET", default=""))
BRAND_NAME = WAGTAIL_SITE_NAME = require("BRAND_NAME", env.str("BRAND_NAME", default=""))
BRAND_POSTAL_ADDRESS = require("BRAND_POSTAL_ADDRESS", env.str("BRAND_POSTAL_ADDRESS", default=""))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CAMPAIGN_SENDERS = env.list("CAMPAIGN_SENDERS", default=[DEFAULT_FROM_EMAIL])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
WAGTAILADMIN_BASE_URL = SITE_URL
OUTBOX_ENABLED = False
# Never post webhooks inside our own network (webhooks/addresses.py), whatever the environment says.
WEBHOOKS_ALLOW_PRIVATE_URLS = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Wagtail's admin previews pages and emails in a same-origin iframe, so frames are allowed from this
# origin only (X_FRAME_OPTIONS = "SAMEORIGIN" in base settings) and Django's advice to DENY is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W019"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
