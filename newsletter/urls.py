from django.conf import settings
from django.urls import include, path
from django.views.generic import RedirectView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from api.urls import urls_with_catch_all as api_urls
from subscribers.urls import account_patterns, accounts_patterns, newsletter_patterns, privacy_policy_patterns
from subscribers.views.accounts import AdminLoginView

from . import views

urlpatterns = [
    # First: the tracked links and the open image are the busiest URLs (every recipient's clicks), and no other
    # path starts as theirs do (email/, c/, o/, hooks/ses/).
    path("", include("campaigns.urls")),
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz/", views.healthz, name="healthz"),
    path("accounts/", include(accounts_patterns)),
    path("account/", include(account_patterns)),
    path("newsletter/", include(newsletter_patterns)),
    path("privacy/", include(privacy_policy_patterns)),
    path("api/v1/", include((api_urls(), "api"))),
    # Before Wagtail's own: the admin login with the shop's limits on password guessing (subscribers.login_throttle).
    path("admin/login/", AdminLoginView.as_view(), name="admin_login"),
    # Wagtail's "Forgotten password?" would email through Django's send_mail, which this platform does not use: it
    # leads to the shop's own reset instead, which emails through SES like every other message.
    path("admin/password_reset/", RedirectView.as_view(pattern_name="accounts:password_reset"), name="admin_reset"),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    # The demo serves uploaded images itself; production serves MEDIA_URL from the web server or a CDN.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

if settings.OUTBOX_ENABLED:
    urlpatterns += [
        path("outbox/", views.outbox, name="outbox"),
        path("outbox/<str:message_id>/", views.outbox_message_view, name="outbox_message"),
    ]

# Wagtail serves its page tree under /pages/ so that it never shadows the paths above.
urlpatterns.append(path("pages/", include(wagtail_urls)))
