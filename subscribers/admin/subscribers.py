"""The Subscribers menu and what hangs off it: subscribers, subscriptions, the consent ledger and the suppression
list (read-only: ``permissions.py``), topics, privacy policy versions (``policies.py``), the dashboard's
subscribers per topic, and the download that panel links to: a topic's subscribers as CSV for the marketing team
(streamed; formula-safe cells).

Internal use only: giving that file to another organisation is a disclosure, which goes through the partner
export (it leaves out objectors and is logged) instead.
"""

import csv

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET
from wagtail.admin.ui.components import Component
from wagtail.admin.viewsets.model import ModelViewSet, ModelViewSetGroup

from ..csvcells import csv_address_cell, csv_cell
from ..models import ConsentEvent, Subscriber, Subscription, Suppression, Topic
from ..topic_counts import topic_counts
from .attributes import AttributeViewSet, SubscriberInspectView
from .listings import KeysetIndexView, PeopleIndexView
from .paging import NEWEST_FIRST_LABELS
from .policies import PrivacyPolicyVersionViewSet


class TopicViewSet(ModelViewSet):
    model = Topic
    icon = "list-ul"
    menu_label = "Topics"
    form_fields = ["name", "slug", "description", "is_active", "position"]
    list_display = ["name", "slug", "is_default", "is_active"]
    copy_view_enabled = False


class SubscriberViewSet(ModelViewSet):
    model = Subscriber
    icon = "user"
    menu_label = "Subscribers"
    form_fields = ["first_name"]
    list_display = ["email", "first_name", "email_confirmed_at", "created_at"]
    search_fields = ["email", "first_name"]
    index_view_class = PeopleIndexView
    inspect_view_enabled = True
    inspect_view_class = SubscriberInspectView  # with the person's attribute values
    inspect_view_fields = ["email", "first_name", "user", "email_confirmed_at", "created_at"]
    copy_view_enabled = False

    def get_index_view_kwargs(self, **kwargs):
        # By address, paged by position on the unique index on addresses, A to Z or, sorted the other way, Z to A.
        return super().get_index_view_kwargs(keyset=("email",), **kwargs)


class SubscriptionViewSet(ModelViewSet):
    model = Subscription
    icon = "tick"
    menu_label = "Subscriptions"
    form_fields = ["status"]
    list_display = ["subscriber", "topic", "status", "lawful_basis", "confirmed_at"]
    list_filter = ["topic", "status", "lawful_basis"]
    search_fields = ["subscriber__email"]
    index_view_class = PeopleIndexView
    inspect_view_enabled = True
    copy_view_enabled = False

    def get_index_view_kwargs(self, **kwargs):
        # Newest first by key, paged by position (the model's order, by topic, sorts every subscription before it
        # can show 20), and each row's subscriber and topic fetched for the page in one query each, not one per row
        # (a join would make PostgreSQL join every subscription before it takes the page).
        return super().get_index_view_kwargs(
            queryset=Subscription.objects.prefetch_related("subscriber", "topic"),
            keyset=("-id",),
            address_field="subscriber__email",
            **kwargs,
        )


class ConsentEventViewSet(ModelViewSet):
    model = ConsentEvent
    icon = "history"
    menu_label = "Consent history"
    form_fields = ["detail"]
    list_display = ["occurred_at", "subscriber", "purpose", "action", "topic", "source", "policy_version"]
    list_filter = ["purpose", "action", "source", "topic"]
    search_fields = ["subscriber__email"]
    index_view_class = PeopleIndexView
    inspect_view_enabled = True
    copy_view_enabled = False

    def get_index_view_kwargs(self, **kwargs):
        # As the subscriptions' listing: each row's subscriber, topic and policy version fetched for the page; paged
        # by position on the time (the key breaks ties), newest first or, sorted the other way, oldest first.
        return super().get_index_view_kwargs(
            queryset=ConsentEvent.objects.prefetch_related("subscriber", "topic", "policy_version"),
            keyset=("-occurred_at", "-id"),
            keyset_labels=NEWEST_FIRST_LABELS,
            address_field="subscriber__email",
            **kwargs,
        )


class SuppressionViewSet(ModelViewSet):
    model = Suppression
    icon = "warning"
    menu_label = "Suppression list"
    form_fields = ["reason"]
    list_display = ["address_hmac", "scope", "reason", "created_at"]
    list_filter = ["scope", "reason"]
    index_view_class = KeysetIndexView
    copy_view_enabled = False

    def get_index_view_kwargs(self, **kwargs):
        # Every unsubscribe from everything adds a row, so the list grows toward the subscribers' size: newest first
        # by key, paged by position (the model's order, by a time nothing indexes, sorted every row for each page).
        return super().get_index_view_kwargs(keyset=("-id",), keyset_labels=NEWEST_FIRST_LABELS, **kwargs)


class SubscribersGroup(ModelViewSetGroup):
    menu_label = "Subscribers"
    menu_icon = "group"
    menu_order = 200
    items = (
        SubscriberViewSet,
        SubscriptionViewSet,
        TopicViewSet,
        AttributeViewSet,
        ConsentEventViewSet,
        SuppressionViewSet,
        PrivacyPolicyVersionViewSet,
    )


class TopicCountsPanel(Component):
    """Dashboard panel: active and pending subscriptions per topic, each with a link to its CSV."""

    name = "topic_counts"
    order = 50
    template_name = "admin_panels/topic_counts.html"

    def get_context_data(self, parent_context=None):
        counts = topic_counts()
        return {"topics": counts.topics, "counts": counts}


def user_may_view(user) -> bool:
    return user.has_perm("subscribers.view_subscription")


def dashboard_panels(user) -> list[Component]:
    return [TopicCountsPanel()] if user_may_view(user) else []


COLUMNS = ("email", "first_name", "status", "lawful_basis", "requested_at", "confirmed_at", "unsubscribed_at")


class _Echo:
    def write(self, value):
        return value


def _rows(topic: Topic):
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    subscriptions = (
        Subscription.objects.filter(topic=topic)
        .order_by("subscriber__email")
        .values_list("subscriber__email", "subscriber__first_name", "status", "lawful_basis", *COLUMNS[4:])
    )
    for email, *rest in subscriptions.iterator(chunk_size=2000):
        # The address exactly when harmless (so the file imports back as it was), as the partner export writes it.
        cells = [csv_address_cell(email)]
        cells.extend(csv_cell(value.isoformat() if hasattr(value, "isoformat") else value) for value in rest)
        yield writer.writerow(cells)


@require_GET
def topic_subscribers_csv(request, topic_id: int):
    if not user_may_view(request.user):
        raise PermissionDenied
    topic = get_object_or_404(Topic, pk=topic_id)
    response = StreamingHttpResponse(_rows(topic), content_type="text/csv; charset=utf-8")
    name = f"{topic.slug}-subscribers-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


admin_patterns = [
    path("topic-exports/<int:topic_id>/subscribers.csv", topic_subscribers_csv, name="topic_subscribers_csv"),
]
