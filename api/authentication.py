"""``Authorization: Bearer <key>``. Missing, malformed, unknown and revoked keys are all 401 with
``WWW-Authenticate: Bearer`` (RFC 6750 section 3), with one message that does not say which it was."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .services import api_key_for_string, api_key_mark_used

INVALID_KEY = "The API key is missing, malformed, unknown or revoked."


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the key's service user; ``request.auth`` is the ``ApiKey``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None  # DRF answers NotAuthenticated (401, with the header below)
        keyword, _, key = header.partition(" ")
        if keyword.lower() != self.keyword.lower() or not key.strip() or " " in key.strip():
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        api_key = api_key_for_string(key=key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        api_key_mark_used(api_key=api_key)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The key in the OpenAPI schema, so the interactive docs offer an "Authorize" box for it."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key: `nlk_<prefix>_<secret>`."}
