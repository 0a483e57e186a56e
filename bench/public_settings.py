"""Settings for bench_public.py's gunicorn: the local settings with the trivial view's URLs added."""

from newsletter.settings.local import *  # noqa: F403

ROOT_URLCONF = "public_urls"
