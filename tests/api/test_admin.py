"""Settings > API keys: the list, a new key shown once, revoking; only for those who may manage keys."""

import re

import pytest
from wagtail.models import ModelLogEntry

from api.models import ApiKey
from subscribers.models import User

from .conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser(email="owner@larkspur-lune.example", first_name="Olive"))
    return client


def test_a_new_key_is_shown_once_works_and_is_listed_without_its_secret(superuser_client):
    response = superuser_client.post(
        "/admin/api-keys/new/", {"name": "Shop checkout", "scopes": ["subscribers:read", "subscribers:write"]}
    )

    assert response.status_code == 200
    key = re.search(rb"data-api-key-secret>(nlk_[^<]+)<", response.content)[1].decode()
    assert b"shown only once" in response.content
    assert client_for(key).get("/api/v1/topics/").status_code == 200
    listing = superuser_client.get("/admin/api-keys/")
    assert b"Shop checkout" in listing.content and key.encode() not in listing.content
    api_key = ApiKey.objects.get()
    assert f"nlk_{api_key.prefix}".encode() in listing.content
    assert api_key.created_by.email == "owner@larkspur-lune.example"
    assert ModelLogEntry.objects.filter(action="api.key_create", user=api_key.created_by).exists()


def test_bad_input_names_the_field_and_makes_nothing(superuser_client):
    superuser_client.post("/admin/api-keys/new/", {"name": "Taken", "scopes": ["subscribers:read"]})

    no_scope = superuser_client.post("/admin/api-keys/new/", {"name": "Other"})
    taken = superuser_client.post("/admin/api-keys/new/", {"name": "Taken", "scopes": ["subscribers:read"]})

    assert b"data-api-key-secret" not in no_scope.content and b"This field is required" in no_scope.content
    assert "already a key named “Taken”" in taken.content.decode()
    assert ApiKey.objects.count() == 1


def test_revoking_from_the_list_stops_the_key(superuser_client):
    response = superuser_client.post("/admin/api-keys/new/", {"name": "Old", "scopes": ["subscribers:read"]})
    key = re.search(rb"data-api-key-secret>(nlk_[^<]+)<", response.content)[1].decode()
    api_key = ApiKey.objects.get()

    superuser_client.post(f"/admin/api-keys/{api_key.pk}/revoke/")

    assert client_for(key).get("/api/v1/topics/").status_code == 401
    assert b"Revoked" in superuser_client.get("/admin/api-keys/").content
    assert superuser_client.get(f"/admin/api-keys/{api_key.pk}/revoke/").status_code == 405


def test_staff_without_the_permission_see_no_menu_item_and_cannot_open_the_pages(client):
    from django.contrib.auth.models import Permission

    staff = User.objects.create_user(email="clerk@larkspur-lune.example", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(staff)

    assert b"/admin/api-keys/" not in client.get("/admin/").content
    assert client.get("/admin/api-keys/").status_code == 302  # Wagtail's refusal: back to the dashboard
    client.post("/admin/api-keys/new/", {"name": "Sneaky", "scopes": ["privacy:write"]})
    assert not ApiKey.objects.exists()

    staff.user_permissions.add(Permission.objects.get(codename="manage_api_keys"))
    assert client.get("/admin/api-keys/").status_code == 200
