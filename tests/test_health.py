"""/healthz/: JSON with the database, Redis and SES configuration; 200 when healthy, 503 when not."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_200_with_every_check_ok(client):
    response = client.get("/healthz/")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "ses": True,
    }
    assert body["checks"]["ses"]["region"] == "eu-west-2"
    assert body["checks"]["ses"]["send_events"] is True


def test_healthz_reports_the_send_rate_the_workers_use_and_where_it_came_from(client, settings):
    from mailer.ses import ses_max_send_rate

    # Given the rate set by SES_MAX_SEND_RATE (as the demo does), then read from the SES account instead
    settings.SES_MAX_SEND_RATE = 100
    from_setting = client.get("/healthz/").json()["checks"]["ses"]
    settings.SES_MAX_SEND_RATE = None
    from_account = client.get("/healthz/").json()["checks"]["ses"]

    assert (from_setting["max_send_rate"], from_setting["max_send_rate_source"]) == (100.0, "SES_MAX_SEND_RATE")
    # The local endpoint does not answer v2 GetAccount, so the rate comes from v1 GetSendQuota, as for the workers
    assert (from_account["max_send_rate"], from_account["max_send_rate_source"]) == (1.0, "GetSendQuota")
    assert from_account["max_send_rate"] == ses_max_send_rate(), "what the send worker's rate limiter is given"
    assert from_setting["account_max_send_rate"] == from_account["account_max_send_rate"] == 1.0


def test_healthz_is_503_naming_the_missing_ses_setting(client, settings):
    settings.DEFAULT_FROM_EMAIL = ""

    response = client.get("/healthz/")

    assert response.status_code == 503
    assert response.json()["checks"]["ses"] == {**response.json()["checks"]["ses"], "ok": False}
    assert "DEFAULT_FROM_EMAIL is not set" in response.json()["checks"]["ses"]["error"]


def test_healthz_is_503_when_the_ses_endpoint_does_not_answer(client, settings):
    from mailer import ses

    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    ses._cached_client.cache_clear()

    response = client.get("/healthz/")

    assert response.status_code == 503
    assert "SES did not answer GetSendQuota" in response.json()["checks"]["ses"]["error"]


def test_healthz_is_503_when_redis_is_down(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }

    response = client.get("/healthz/")

    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_503_when_the_configuration_set_does_not_publish_send_events(client, settings, ses_endpoint):
    # Given a configuration set in SES with no event destination: rows in doubt could never be settled
    import boto3

    boto3.client(
        "sesv2",
        region_name=settings.SES_REGION,
        endpoint_url=ses_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).create_configuration_set(ConfigurationSetName="quiet")
    settings.SES_CONFIGURATION_SET = "quiet"

    response = client.get("/healthz/")

    check = response.json()["checks"]["ses"]
    assert response.status_code == 503
    assert (check["ok"], check["send_events"]) == (False, False)
    assert check["error"] == "The configuration set quiet has no enabled event destination for Send events."
