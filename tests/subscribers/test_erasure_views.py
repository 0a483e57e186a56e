"""Erasing one's own account from /account/privacy/: the consequences first, the password, then nothing left."""

import pytest
from django.test import Client
from django.urls import reverse

from subscribers.addresses import address_hmac
from subscribers.models import ErasureRecord, ErasureSource, Subscriber, Suppression, SuppressionScope, User
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"
ERASE = "/account/privacy/erase/"


@pytest.fixture
def customer():
    user = UserFactory(email="ida@mail.example")
    subscriber = ConfirmedSubscriberFactory(email=user.email, user=user)
    SubscriptionFactory(subscriber=subscriber)
    client = Client()
    client.force_login(user)
    return user, client


def test_the_page_explains_the_consequences_before_anything_happens(customer):
    user, client = customer

    page = client.get(ERASE).content.decode()

    assert reverse("account:erase") == ERASE
    for words in ("cannot be undone", "one-way code", "no more newsletters", "signed out"):
        assert words in page
    assert 'href="/account/privacy/erase/"' in client.get("/account/privacy/").content.decode()
    assert User.objects.filter(pk=user.pk).exists()


def test_erasure_needs_login():
    response = Client().get(ERASE)

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "data, error",
    [
        ({"password": "wrong", "understood": "on"}, "That is not your current password."),
        ({"password": PASSWORD}, "Tick the box to confirm you have read what erasing your account means."),
    ],
)
def test_a_wrong_password_or_no_tick_erases_nothing_and_says_why(customer, data, error):
    user, client = customer

    response = client.post(ERASE, data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists() and not ErasureRecord.objects.exists()


def test_erasure_deletes_the_account_tombstones_the_address_and_signs_out(customer):
    user, client = customer

    response = client.post(ERASE, {"password": PASSWORD, "understood": "on"})

    assert response.status_code == 302 and response["Location"] == "/account/privacy/erased/"
    assert "has been erased" in client.get(response["Location"]).content.decode()
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Subscriber.objects.filter(email="ida@mail.example").exists()
    assert Suppression.objects.filter(address_hmac=address_hmac("ida@mail.example"), scope=SuppressionScope.ALL)
    assert ErasureRecord.objects.get().source == ErasureSource.SELF_SERVICE
    assert client.get("/account/").status_code == 302, "signed out"


def test_password_guessing_is_limited(customer, settings):
    settings.ACCOUNT_ERASE_RATE = "3/h"
    user, client = customer
    for _ in range(3):
        client.post(ERASE, {"password": "guess", "understood": "on"})

    response = client.post(ERASE, {"password": PASSWORD, "understood": "on"})

    assert "Too many attempts" in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
