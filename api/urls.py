"""``/api/v1/``: the endpoints, the schema (``schema/``, JSON with ``?format=json``) and the docs (``docs/``).

Endpoints of other modules are added to ``router`` or to ``urlpatterns`` before the final catch-all, which answers
any other path under /api/v1/ with a 404 in the API's error shape."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .docs_views import DocsView, SchemaView
from .errors import not_found
from .views import automations, campaigns, webhooks
from .views.subscribers import AttributeViewSet, SubscriberViewSet, TopicViewSet

app_name = "api"

router = SimpleRouter(trailing_slash=True)
router.register("topics", TopicViewSet, basename="topic")
router.register("subscribers", SubscriberViewSet, basename="subscriber")
router.register("attributes", AttributeViewSet, basename="attribute")

urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
]

# Campaigns and sends (campaigns:read, campaigns:send).
urlpatterns += [
    path("campaigns/", campaigns.CampaignListView.as_view(), name="campaign_list"),
    path("campaigns/<int:campaign_id>/", campaigns.CampaignDetailView.as_view(), name="campaign_detail"),
    path("campaigns/<int:campaign_id>/sends/", campaigns.CampaignSendListView.as_view(), name="campaign_sends"),
    path("campaigns/<int:campaign_id>/send/", campaigns.CampaignSendNowView.as_view(), name="campaign_send_now"),
    path("campaigns/<int:campaign_id>/schedule/", campaigns.CampaignScheduleView.as_view(), name="campaign_schedule"),
    path("sends/", campaigns.SendListView.as_view(), name="send_list"),
    path("sends/<int:send_id>/", campaigns.SendDetailView.as_view(), name="send_detail"),
    path("sends/<int:send_id>/pause/", campaigns.SendPauseView.as_view(), name="send_pause"),
    path("sends/<int:send_id>/resume/", campaigns.SendResumeView.as_view(), name="send_resume"),
    path("sends/<int:send_id>/cancel/", campaigns.SendCancelView.as_view(), name="send_cancel"),
]

# Outgoing webhooks' endpoints and deliveries (webhooks:manage).
urlpatterns += [
    path("webhooks/endpoints/", webhooks.EndpointListView.as_view(), name="webhook_endpoint_list"),
    path("webhooks/endpoints/<int:endpoint_id>/", webhooks.EndpointDetailView.as_view(), name="webhook_endpoint"),
    path(
        "webhooks/endpoints/<int:endpoint_id>/rotate-secret/",
        webhooks.EndpointRotateView.as_view(),
        name="webhook_endpoint_rotate",
    ),
    path(
        "webhooks/endpoints/<int:endpoint_id>/deliveries/",
        webhooks.EndpointDeliveriesView.as_view(),
        name="webhook_endpoint_deliveries",
    ),
    path("webhooks/deliveries/<int:delivery_id>/", webhooks.DeliveryDetailView.as_view(), name="webhook_delivery"),
    path(
        "webhooks/deliveries/<int:delivery_id>/resend/",
        webhooks.DeliveryResendView.as_view(),
        name="webhook_delivery_resend",
    ),
]


# Events that start automations (automations:trigger).
urlpatterns += [
    path("automations/events/", automations.AutomationEventView.as_view(), name="automation_event"),
]


def urls_with_catch_all():
    """The routes, then the catch-all 404 (it must come last)."""
    return [*urlpatterns, *router.urls, re_path(r"^.*$", not_found, name="not_found")]
