"""Links in emails: the cached path around a token is exactly what reverse() builds; tokens are Django's."""

import uuid

import pytest
from django.core import signing
from django.urls import reverse, set_script_prefix

from subscribers.links import token_path
from subscribers.tokens import (
    PREFERENCES_SALT,
    UNSUBSCRIBE_SALT,
    TokenInvalid,
    public_token_make,
    public_token_read,
    sign,
)


@pytest.mark.parametrize(
    "name", ["newsletter:unsubscribe", "newsletter:preferences", "campaigns:view_in_browser", "campaigns:click"]
)
@pytest.mark.parametrize("salt", [UNSUBSCRIBE_SALT, PREFERENCES_SALT])
def test_token_path_is_what_reverse_builds(name, salt):
    token = public_token_make(public_id=uuid.uuid4(), salt=salt)
    odd = "a b/c?d#e%f"  # characters a token never has, quoted as reverse() quotes them

    assert token_path(name, token) == reverse(name, args=[token])
    assert token_path(name, odd.replace("/", "")) == reverse(name, args=[odd.replace("/", "")])


def test_token_path_follows_a_changed_script_prefix():
    set_script_prefix("/shop/")
    try:
        assert token_path("newsletter:unsubscribe", "t.k") == "/shop/newsletter/unsubscribe/t.k/"
    finally:
        set_script_prefix("/")


@pytest.mark.parametrize("salt", [UNSUBSCRIBE_SALT, PREFERENCES_SALT])
def test_public_tokens_are_the_ones_django_signing_makes_and_reads(settings, salt):
    public_id = uuid.uuid4()
    django_signer = signing.Signer(salt=salt, sep=".")

    token = public_token_make(public_id=public_id, salt=salt)

    assert token == django_signer.sign(public_id.hex)
    assert public_token_read(token=token, salt=salt) == public_id.hex
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert public_token_make(public_id=public_id, salt=salt) != token, "a new secret key makes new tokens"
    assert public_token_make(public_id=public_id, salt=salt) == signing.Signer(salt=salt, sep=".").sign(public_id.hex)
    with pytest.raises(TokenInvalid):
        public_token_read(token=token, salt=salt)


@pytest.mark.parametrize("value", ["12-0-sample", "7-31-0d6f1c2a9b8e4f7d8c3a2b1e0f9d8c7b", "ünïcode value", ""])
def test_sign_is_django_signer_sign(value):
    from campaigns.authoring.personalise import VIEW_IN_BROWSER_SALT

    assert sign(value, salt=VIEW_IN_BROWSER_SALT) == signing.Signer(salt=VIEW_IN_BROWSER_SALT, sep=".").sign(value)
