"""``manage.py api_key_create`` and ``api_key_revoke``."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiKey
from subscribers.models import User

from .conftest import client_for

pytestmark = pytest.mark.urls("tests.api.probe_urls")
PROBE = "/api/v1/probe/"


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_the_command_prints_the_key_once_on_its_own_line_last_and_it_works(db):
    lines = run("api_key_create", "--name", "Shop checkout", "--scopes", "subscribers:write, subscribers:read")

    key = lines[-1]
    assert key.startswith("nlk_") and " " not in key
    assert sum(key in line for line in lines) == 1
    api_key = ApiKey.objects.get(name="Shop checkout")
    assert api_key.scopes == ["subscribers:read", "subscribers:write"]
    assert key.split("_")[1] == api_key.prefix
    assert client_for(key).get(PROBE).status_code == 200


def test_an_unknown_scope_is_refused_naming_it_and_the_valid_ones_and_nothing_is_made(db):
    with pytest.raises(CommandError) as refused:
        run("api_key_create", "--name", "Shop", "--scopes", "subscribers:read,subscribers:delete")

    message = str(refused.value)
    assert "subscribers:delete" in message
    valid = (
        "subscribers:read, subscribers:write, campaigns:read, campaigns:send, privacy:write, webhooks:manage, "
        "automations:trigger"
    )
    assert valid in message
    assert not ApiKey.objects.exists()
    assert not User.objects.filter(email__startswith="api-key-").exists()


def test_a_taken_name_is_refused(db):
    run("api_key_create", "--name", "Shop", "--scopes", "subscribers:read")
    with pytest.raises(CommandError, match="already a key named “Shop”"):
        run("api_key_create", "--name", "Shop", "--scopes", "subscribers:read")
    assert ApiKey.objects.count() == 1


def test_created_by_must_be_staff_allowed_to_manage_keys(db):
    User.objects.create_user(email="clerk@larkspur-lune.example", is_staff=True)
    User.objects.create_superuser(email="owner@larkspur-lune.example")

    with pytest.raises(CommandError, match="may not create API keys"):
        run("api_key_create", "--name", "A", "--scopes", "subscribers:read",
            "--created-by", "clerk@larkspur-lune.example")
    run("api_key_create", "--name", "B", "--scopes", "subscribers:read", "--created-by", "OWNER@larkspur-lune.example")

    assert list(ApiKey.objects.values_list("name", "created_by__email")) == [("B", "owner@larkspur-lune.example")]


def test_the_revoke_command_stops_the_key_at_once(db):
    key = run("api_key_create", "--name", "Old shop", "--scopes", "subscribers:read")[-1]

    lines = run("api_key_revoke", "Old shop")

    assert "Revoked" in lines[0]
    assert client_for(key).get(PROBE).status_code == 401
    assert "already revoked" in run("api_key_revoke", "Old shop")[0]
    with pytest.raises(CommandError, match="No API key is named “Nope”"):
        run("api_key_revoke", "Nope")
