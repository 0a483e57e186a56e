"""Settings for the test suite: DATABASE_URL / REDIS_URL when given, otherwise SQLite + embedded Redis.

The SES endpoint is the moto server that the test fixtures start; they set SES_ENDPOINT_URL at run time.
"""

import os

from .local import *  # noqa: F403
from .testing import parallel_process_number, redis_database_after

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; never used outside tests
if not env.str("REDIS_URL", default=""):  # noqa: F405
    # On the embedded Redis the tests use database 1 and up, so a running demo's queue (database 0) survives
    # the flush that starts each test.
    REDIS_URL = f"{REDIS_URL}?db=1"  # noqa: F405
# Under ``pytest -n N`` each test process (gw0, gw1, ...) has a Redis database of its own, the next ones after
# REDIS_URL's: its queues, its Celery workers' messages and its cache keys never meet another process's. The
# database is pytest-django's own for each process (test_<name>_gw0, ...).
REDIS_URL = redis_database_after(REDIS_URL, parallel_process_number())
CELERY_BROKER_URL, CACHES = redis_settings(REDIS_URL)  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "nl-test"
# Service tests run tasks inline; end-to-end tests start a real worker and turn this off.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: end-to-end tests run a Celery worker and a live server in other threads,
    # and each thread must see the same database.
    # One file per test run, so that two runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
