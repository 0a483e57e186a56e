"""Links in emails: the cached path around a token is exactly what reverse() builds."""

import uuid

import pytest
from django.urls import reverse, set_script_prefix

from subscribers.links import token_path
from subscribers.tokens import PREFERENCES_SALT, UNSUBSCRIBE_SALT, public_token_make


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
