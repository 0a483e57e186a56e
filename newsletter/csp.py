"""The Content-Security-Policy header: one strict policy for the public and account pages, a looser one for the
Wagtail admin, and one for the email shown as a web page.

django-csp's middleware writes the header; this subclass only chooses the admin's policy for paths under
``CSP_ADMIN_PREFIXES``, because django-csp 4 can exclude a path prefix from the policy but not give it another one
(its per-view decorators cannot reach Wagtail's own views). docs/operations.md says what each policy allows and why.
"""

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with ``CONTENT_SECURITY_POLICY_ADMIN`` for the admin's paths."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        # A view's own policy (set with django-csp's decorators) wins; otherwise the admin's paths get the admin's.
        admin = request.path_info.startswith(tuple(settings.CSP_ADMIN_PREFIXES))
        if admin and not report_only and parts.config is None:
            parts.config = settings.CONTENT_SECURITY_POLICY_ADMIN["DIRECTIVES"]
        return parts
