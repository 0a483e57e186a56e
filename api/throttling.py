"""Requests per key, counted in the Redis cache (DRF's throttle on ``django.core.cache``): ``API_RATE``, such as
"600/min". Over it: 429 with ``Retry-After`` (the seconds until a request would be allowed)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        # Read at each request, not once at import, so the setting (and a test's override) always applies.
        return settings.API_RATE

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        api_key = request.auth
        if api_key is None or not hasattr(api_key, "pk"):
            return None  # unauthenticated requests never reach here (401 first)
        return self.cache_format % {"scope": self.scope, "ident": api_key.pk}
