"""A parallel test run (``pytest -n N``): each process gets a Redis database of its own."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.settings.base import redis_url_database
from newsletter.settings.testing import parallel_process_number, redis_database_after

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("url", "offset", "expected"),
    [
        ("redis://127.0.0.1:6379/0", 0, "redis://127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", 1, "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379", 2, "redis://127.0.0.1:6379/2"),
        ("redis://:secret@cache.internal:6380/3", 2, "redis://:secret@cache.internal:6380/5"),
        ("unix:///srv/var/redis.sock?db=1", 1, "unix:///srv/var/redis.sock?db=2"),
        ("unix:///srv/var/redis.sock", 3, "unix:///srv/var/redis.sock?db=3"),
        ("unix:///srv/var/redis.sock?password=p&db=1", 1, "unix:///srv/var/redis.sock?db=2&password=p"),
        ("redis://127.0.0.1:6379/0?db=4", 1, "redis://127.0.0.1:6379/0?db=5"),
    ],
)
def test_each_test_process_moves_to_the_next_redis_database(url, offset, expected):
    assert redis_database_after(url, offset) == expected


def test_a_database_redis_does_not_have_is_refused_with_advice():
    with pytest.raises(ValueError, match="Redis database 16, and Redis has 16: run fewer test processes"):
        redis_database_after("redis://127.0.0.1:6379/14", 2)


def test_the_process_number_comes_from_the_parallel_runner(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert parallel_process_number() == 3
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert parallel_process_number() == 0


def _test_settings_of(process: str) -> dict[str, str]:
    """The Redis settings the test settings give a parallel run's process, read in a fresh interpreter."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
        "'redis': settings.REDIS_URL, 'broker': settings.CELERY_BROKER_URL,"
        "'cache': settings.CACHES['default']['LOCATION']}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsletter.settings.test", "PYTEST_XDIST_WORKER": process}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_test_processes_use_two_redis_databases_for_broker_and_cache_alike():
    first, second = _test_settings_of("gw0"), _test_settings_of("gw1")

    assert redis_url_database(second["redis"]) == redis_url_database(first["redis"]) + 1
    for each in (first, second):
        assert each["cache"] == each["redis"]
        database = redis_url_database(each["redis"])
        assert each["broker"].endswith((f"/{database}", f"virtual_host={database}")), each
