from django.conf import settings
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from subscribers.urls import account_patterns, accounts_patterns, newsletter_patterns, privacy_policy_patterns

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("accounts/", include(accounts_patterns)),
    path("account/", include(account_patterns)),
    path("newsletter/", include(newsletter_patterns)),
    path("privacy/", include(privacy_policy_patterns)),
    path("", include("campaigns.urls")),
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
