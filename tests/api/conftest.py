"""Fixtures for API tests: keys with chosen scopes, and clients that send them.

    def test_something(api_client):
        client = api_client("subscribers:read")          # a new key with these scopes, sent as a Bearer token
        client.api_key                                    # its ApiKey row; client.key is the key string
"""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from api.scopes import SCOPE_NAMES
from api.services import NewApiKey, api_key_create


@pytest.fixture
def api_key_make(db) -> Callable[..., NewApiKey]:
    """``api_key_make(*scopes, name=...)``: a new key (all scopes when none are given)."""
    counter = iter(range(1, 10_000))

    def make(*scopes: str, name: str | None = None) -> NewApiKey:
        return api_key_create(name=name or f"Test key {next(counter)}", scopes=list(scopes or SCOPE_NAMES))

    return make


def client_for(key: str | None) -> APIClient:
    """A DRF test client sending ``Authorization: Bearer <key>`` (nothing when ``key`` is None), JSON by default."""
    client = APIClient()
    client.default_format = "json"
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api_client(api_key_make) -> Callable[..., APIClient]:
    """``api_client(*scopes)``: a client with a new key holding ``scopes`` (all when none are given)."""

    def make(*scopes: str, name: str | None = None) -> APIClient:
        made = api_key_make(*scopes, name=name)
        client = client_for(made.key)
        client.api_key, client.key = made.api_key, made.key
        return client

    return make


def error_of(response) -> dict:
    """The ``error`` object of an API error answer, checking the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]
