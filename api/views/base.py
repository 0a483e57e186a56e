"""The base classes every API endpoint uses: authentication by key, the scope check, the per-key rate, JSON in and
out, cursor paging, one error shape and ``Idempotency-Key`` on POST. An endpoint sets ``required_scope`` (or
``required_scopes`` per action or method) and calls services; it never writes models itself.

``actor(request)`` is the user the services take as the actor: the key's service user, whose name says which key.
"""

from rest_framework import generics, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from ..authentication import ApiKeyAuthentication
from ..idempotency import IdempotencyMixin
from ..models import ApiKey
from ..pagination import ApiCursorPagination
from ..parsers import ApiJSONParser
from ..permissions import HasScope
from ..throttling import ApiKeyRateThrottle


class ApiMixin(IdempotencyMixin):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [ApiJSONParser]
    pagination_class = ApiCursorPagination
    required_scope: str | None = None
    required_scopes: dict[str, str] = {}

    def api_key(self) -> ApiKey:
        return self.request.auth

    def actor(self):
        """The user services record as having acted: the key's own service user."""
        return self.request.user

    def ip(self) -> str | None:
        """The calling system's address, for the consent ledger (truncated there)."""
        return self.request.META.get("REMOTE_ADDR")


class ApiView(ApiMixin, APIView):
    """A plain endpoint."""


class ApiGenericView(ApiMixin, generics.GenericAPIView):
    """An endpoint with a queryset, a serializer and paging."""


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    """A set of endpoints on one resource, routed by a DRF router."""
