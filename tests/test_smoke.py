from pathlib import Path

import pytest


@pytest.mark.django_db
def test_healthz_reports_every_part_healthy(client):
    response = client.get("/healthz/")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "redis", "ses"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_the_site_icon_is_served_at_favicon_ico_and_linked_from_the_pages(client):
    from django.contrib.staticfiles import finders

    # Browsers ask for /favicon.ico without any link: it answers with the icon, cacheable, for GET and HEAD
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert response.content.startswith(b"\x00\x00\x01\x00")  # the ICO header
    assert response.content == Path(finders.find("favicon.ico")).read_bytes()
    assert "max-age=604800" in response["Cache-Control"] and "public" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405

    # Pages link the ICO and the SVG, and the SVG exists among the static files
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert finders.find("favicon.svg")
