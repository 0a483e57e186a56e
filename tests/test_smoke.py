import pytest


@pytest.mark.django_db
def test_healthz_reports_every_part_healthy(client):
    response = client.get("/healthz/")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "redis", "ses"}
    assert all(check["ok"] for check in body["checks"].values())
