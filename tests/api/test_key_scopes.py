"""A key does no more than its maker: a person may give a key only the scopes whose powers they hold themselves."""

import pytest
from django.contrib.auth.models import Group, Permission

from api.models import ApiKey
from api.scopes import SCOPE_NAMES
from api.services import ApiKeyError, api_key_create
from subscribers.models import Subscriber, User
from subscribers.services import subscriber_get_or_create

from .conftest import client_for

pytestmark = pytest.mark.django_db

# What subscribers:read needs (api/scopes.py): reading subscribers, their subscriptions, topics and attributes.
READER = ("view_subscriber", "view_subscription", "view_topic", "view_attribute", "view_attributevalue")


def _staff(email: str, *codenames: str, groups: tuple[str, ...] = ()) -> User:
    staff = User.objects.create_user(email=email, is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["manage_api_keys", "access_admin", *codenames]))
    staff.groups.add(*Group.objects.filter(name__in=groups))
    return User.objects.get(pk=staff.pk)  # a fresh instance: no cached permissions


def test_a_key_manager_cannot_give_a_key_privacy_powers_they_lack_and_nothing_is_made():
    staff = _staff("keys@larkspur-lune.example")
    victim = subscriber_get_or_create(email="victim@mail.example", first_name="Vic")

    with pytest.raises(ApiKeyError) as refused:
        api_key_create(name="escalate", scopes=["privacy:write", "webhooks:manage"], created_by=staff)

    assert refused.value.field == "scopes"
    assert "privacy:write" in str(refused.value) and "subscribers.add_rightsrequest" in str(refused.value)
    assert not ApiKey.objects.exists() and not User.objects.filter(email__endswith="api-keys.invalid").exists()
    assert Subscriber.objects.filter(pk=victim.pk).exists()


def test_giving_campaigns_send_needs_the_send_permission_and_publish_rights_on_the_whole_tree():
    nothing = _staff("keys@larkspur-lune.example")
    send_only = _staff("send@larkspur-lune.example", "send_campaign")
    sender = _staff("sender@larkspur-lune.example", "manage_api_keys", groups=("Campaign senders",))

    with pytest.raises(ApiKeyError, match="campaigns:send: it needs the permission campaigns\\.send_campaign"):
        api_key_create(name="a", scopes=["campaigns:send"], created_by=nothing)
    with pytest.raises(ApiKeyError, match="campaigns:send: it needs the right to publish pages on the whole"):
        api_key_create(name="b", scopes=["campaigns:send"], created_by=send_only)
    with pytest.raises(ApiKeyError, match="campaigns:read: it needs the right to edit or publish campaign pages"):
        api_key_create(name="c", scopes=["campaigns:read"], created_by=nothing)
    made = api_key_create(name="d", scopes=["campaigns:read", "campaigns:send"], created_by=sender)

    assert made.api_key.scopes == ["campaigns:read", "campaigns:send"]


def test_a_person_may_give_the_scopes_their_roles_hold_and_a_superuser_or_the_platform_any():
    reader = _staff("reader@larkspur-lune.example", *READER)
    owner = User.objects.create_superuser(email="owner@larkspur-lune.example")

    made = api_key_create(name="reads", scopes=["subscribers:read"], created_by=reader)
    with pytest.raises(ApiKeyError, match="subscribers:write: it needs the permission subscribers\\.add_subscriber"):
        api_key_create(name="writes", scopes=["subscribers:read", "subscribers:write"], created_by=reader)
    everything = api_key_create(name="all", scopes=list(SCOPE_NAMES), created_by=owner)
    shell = api_key_create(name="shell", scopes=list(SCOPE_NAMES), created_by=None)

    assert client_for(made.key).get("/api/v1/topics/").status_code == 200
    assert everything.api_key.scopes == shell.api_key.scopes == list(SCOPE_NAMES)


def test_someone_who_may_see_subscribers_but_not_their_attribute_values_may_not_give_a_reading_key():
    viewer = _staff("viewer@larkspur-lune.example", *(name for name in READER if name != "view_attributevalue"))

    needs = "subscribers:read: it needs the permission subscribers\\.view_attributevalue"
    with pytest.raises(ApiKeyError, match=needs):
        api_key_create(name="reads", scopes=["subscribers:read"], created_by=viewer)


def test_the_new_key_page_offers_only_the_scopes_the_person_may_give_and_refuses_the_others(client):
    client.force_login(_staff("reader@larkspur-lune.example", *READER))

    page = client.get("/admin/api-keys/new/").content.decode()
    refused = client.post("/admin/api-keys/new/", {"name": "Sneaky", "scopes": ["subscribers:read", "privacy:write"]})

    assert 'value="subscribers:read"' in page
    assert 'value="privacy:write"' not in page and 'value="campaigns:send"' not in page
    assert b"data-api-key-secret" not in refused.content and b"privacy:write" in refused.content
    assert not ApiKey.objects.exists()
