"""Production settings refuse to start without their secrets and pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "newsletter.settings.production",
    "SECRET_KEY": "x" * 64 + "-production-like-secret-with-enough-entropy-0123456789",
    "SUPPRESSION_HMAC_KEY": "suppression-key-for-the-test",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SITE_URL": "https://news.shop.example",
    "ALLOWED_HOSTS": "news.shop.example",
    "DEFAULT_FROM_EMAIL": "Shop <news@shop.example>",
    "SES_CONFIGURATION_SET": "marketing",
    "BRAND_NAME": "A Shop",
    "BRAND_POSTAL_ADDRESS": "1 High Street, Birmingham B1 1AA",
}


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "missing",
    [
        "SECRET_KEY",
        "SUPPRESSION_HMAC_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "SITE_URL",
        "DEFAULT_FROM_EMAIL",
        "SES_CONFIGURATION_SET",
        "BRAND_NAME",
        "BRAND_POSTAL_ADDRESS",
    ],
)
def test_production_settings_refuse_to_start_without_a_secret_naming_it(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_refuses_a_site_url_that_is_not_https():
    result = manage("check", env={**PRODUCTION_ENV, "SITE_URL": "http://news.shop.example"})

    assert result.returncode != 0
    assert "SITE_URL must start with https://" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
