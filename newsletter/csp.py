"""The Content-Security-Policy header: one strict policy for the public and account pages, a looser one for the
Wagtail admin, and one for the email shown as a web page.

django-csp's middleware writes the header; this subclass only chooses the admin's policy for paths under
``CSP_ADMIN_PREFIXES``, because django-csp 4 can exclude a path prefix from the policy but not give it another one
(its per-view decorators cannot reach Wagtail's own views). docs/operations.md says what each policy allows and why.

django-csp builds the header text from the settings on every response, about 90 µs each on this project's
two-core machines: a tenth of a whole click redirect. The text only changes with the settings, so a response
with no policy of its own from its view and no nonce gets a header built once per process (and again when a
test changes the settings); any other response is left to django-csp as before.
"""

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_SETTINGS = ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "CONTENT_SECURITY_POLICY_ADMIN")
# The attributes django-csp's view decorators set on a response, and the two headers with their exemption mark.
_VIEW_POLICIES = tuple(f"_csp_{part}{ro}" for part in ("config", "update", "replace") for ro in ("", "_ro"))
_HEADERS = ((False, HEADER, "_csp_exempt"), (True, HEADER_REPORT_ONLY, "_csp_exempt_ro"))
# (admin path?, report only?) -> the header's text ("" for none)
_built: dict[tuple[bool, bool], str] = {}


@receiver(setting_changed)
def _forget_built(*, setting, **kwargs):
    if setting in (*_SETTINGS, "CSP_ADMIN_PREFIXES"):
        _built.clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with ``CONTENT_SECURITY_POLICY_ADMIN`` for the admin's paths."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        # A view's own policy (set with django-csp's decorators) wins; otherwise the admin's paths get the admin's.
        if not report_only and parts.config is None and self._admin(request):
            parts.config = settings.CONTENT_SECURITY_POLICY_ADMIN["DIRECTIVES"]
        return parts

    def process_response(self, request, response):
        if not self._settings_only(request, response):
            return super().process_response(request, response)
        admin = self._admin(request)
        for report_only, header, exempt in _HEADERS:
            key = (admin, report_only)
            if key not in _built:
                parts = self.get_policy_parts(request, response, report_only)
                _built[key] = build_policy(**vars(parts), report_only=report_only)
            policy = _built[key]
            wanted = policy and header not in response and not getattr(response, exempt, False)
            if wanted and not self._excluded(request, report_only):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written would be in no policy; make that an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    @staticmethod
    def _admin(request) -> bool:
        return request.path_info.startswith(tuple(settings.CSP_ADMIN_PREFIXES))

    @staticmethod
    def _settings_only(request, response) -> bool:
        """Whether this response's policy comes from the settings alone: no nonce was asked for, its view set no
        policy of its own, and it is not a debug page (which django-csp leaves without a policy)."""
        if getattr(request, "_csp_nonce", None) is not None:
            return False
        if settings.DEBUG and response.status_code in (404, 500):
            return False
        return all(getattr(response, name, None) is None for name in _VIEW_POLICIES)

    @staticmethod
    def _excluded(request, report_only: bool) -> bool:
        policy = getattr(settings, _SETTINGS[1] if report_only else _SETTINGS[0], None) or {}
        return request.path_info.startswith(tuple(policy.get("EXCLUDE_URL_PREFIXES") or ()))
