"""Topics and subscribers. Thin: each endpoint checks the input's shape and calls one service
(``subscribers.services.consent``, ``erasure``), with the key's user as the actor and the key's name in every
consent event. Subscribers are named by public id in URLs, never by address."""

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from subscribers.models import (
    ConsentSource,
    ErasureSource,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionScope,
    Topic,
)
from subscribers.selectors import (
    attribute_values_by_subscriber,
    attributes_declared,
    subscriber_by_email,
    topic_default,
)
from subscribers.services.attributes import (
    attribute_values_check,
    subscriber_attributes_offer,
    subscriber_attributes_set,
)
from subscribers.services.consent import (
    ConsentEvidence,
    subscriber_access_export_request,
    subscriber_details_update,
    subscriber_objection_set,
    subscriber_signup,
    subscriber_topics_set,
    subscriber_unsubscribe_all,
    subscriptions_add_with_evidence,
)
from subscribers.services.erasure import subscriber_erase

from .. import serializers as s
from ..errors import error_body
from ..scopes import Scope
from .base import ApiViewSet

# Named in the answer to a create when values were left out: the attribute keys, comma-separated.
NOT_KEPT_HEADER = "Attributes-Not-Kept"


class TopicViewSet(mixins.ListModelMixin, ApiViewSet):
    """Every topic, active or not (an inactive one is hidden from customers and cannot be subscribed to)."""

    required_scope = Scope.SUBSCRIBERS_READ
    serializer_class = s.TopicSerializer
    queryset = Topic.objects.all()
    pagination_class = None  # a handful of rows, shown in the admin's order


class AttributeViewSet(mixins.ListModelMixin, ApiViewSet):
    """The declared attributes: the keys a subscriber's ``attributes`` may hold, with their types and choices."""

    required_scope = Scope.SUBSCRIBERS_READ
    serializer_class = s.AttributeSerializer
    pagination_class = None  # a handful of rows, in the admin's order

    def get_queryset(self):
        return attributes_declared()


def _page_context(subscribers) -> dict:
    """What a page of subscribers shows beside their own fields, each looked up for the whole page in one query."""
    ids = [subscriber.pk for subscriber in subscribers]
    return {
        "objecting_hmacs": _objecting_hmacs(subscribers),
        "attribute_values": attribute_values_by_subscriber(subscriber_ids=ids),
    }


def _objecting_hmacs(subscribers) -> set[str]:
    """The keyed hashes, among these subscribers' addresses, that carry an objection to sharing (one query)."""
    hmacs = [subscriber.address_hmac for subscriber in subscribers]
    return set(
        Suppression.objects.filter(
            address_hmac__in=hmacs, scope__in=(SuppressionScope.THIRD_PARTY, SuppressionScope.ALL)
        ).values_list("address_hmac", flat=True)
    )


class SubscriberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.SubscriberSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[0-9a-f-]{36}"
    required_scopes = {
        "list": Scope.SUBSCRIBERS_READ,
        "retrieve": Scope.SUBSCRIBERS_READ,
        "lookup": Scope.SUBSCRIBERS_READ,
        "create": Scope.SUBSCRIBERS_WRITE,
        "partial_update": Scope.SUBSCRIBERS_WRITE,
        "topics": Scope.SUBSCRIBERS_WRITE,
        "unsubscribe": Scope.SUBSCRIBERS_WRITE,
        "objection": Scope.SUBSCRIBERS_WRITE,
        # Privacy rights act on the person's whole record: a key that only manages subscriptions may not.
        "erase": Scope.PRIVACY_WRITE,
        "access_export": Scope.PRIVACY_WRITE,
    }

    def get_queryset(self):
        queryset = Subscriber.objects.prefetch_related("subscriptions__topic").order_by("-pk")
        if self.action == "list":
            filters = s.SubscriberListFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            wanted = Subscription.objects.filter(subscriber=OuterRef("pk"))
            if "topic" in filters.validated_data:
                wanted = wanted.filter(topic__slug=filters.validated_data["topic"])
            if "status" in filters.validated_data:
                wanted = wanted.filter(status=filters.validated_data["status"])
            if filters.validated_data:
                queryset = queryset.filter(Exists(wanted))
        return queryset

    def _detail(self) -> str:
        return f"API key: {self.api_key().name}"

    def _show(self, subscriber: Subscriber, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The subscriber as the key may see them: the whole record for a key holding ``subscribers:read``; for a
        key that may only write, the public id alone (it could otherwise read anyone by posting their address)."""
        if not self._may_read():
            return Response(s.SubscriberReceiptSerializer(subscriber).data, status=status_code)
        subscriber = Subscriber.objects.prefetch_related("subscriptions__topic").get(pk=subscriber.pk)
        shown = s.SubscriberSerializer(subscriber, context=_page_context([subscriber])).data
        return Response(shown, status=status_code)

    def _may_read(self) -> bool:
        return Scope.SUBSCRIBERS_READ in self.api_key().scopes

    def _subscriber(self) -> Subscriber:
        return get_object_or_404(Subscriber, public_id=self.kwargs["id"])

    @extend_schema(
        parameters=[
            OpenApiParameter("topic", str, description="Only subscribers with a subscription to this topic (slug)."),
            OpenApiParameter(
                "status", str, enum=["pending", "active", "unsubscribed"], description="... in this state."
            ),
            OpenApiParameter("page_size", int, description="Rows per page, at most 500 (default 50)."),
        ]
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        serializer = self.get_serializer(page, many=True, context=_page_context(page))
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        return self._show(self._subscriber())

    @extend_schema(
        request=s.SubscriberCreateSerializer,
        responses={202: s.SubscriberAnswer, 201: s.SubscriberAnswer},
        description="Without `consent`: pending subscriptions and one confirmation email, as the public form "
        "(202). With `consent`: active subscriptions under the CSV import's rules (201); a suppressed address is "
        "refused (409). The answer is the subscriber, or only their `public_id` for a key without subscribers:read.",
    )
    def create(self, request, *args, **kwargs):
        data = self._valid(s.SubscriberCreateSerializer)
        topics = data.get("topics") or [topic_default()]
        # Checked before anything is made, and set in the same transaction: a bad value creates nobody.
        values = attribute_values_check(values=data["attributes"]) if "attributes" in data else None
        with transaction.atomic():
            subscriber, status_code = self._create(data, topics)
            left_out = subscriber_attributes_offer(
                subscriber=subscriber, values=values, actor=self.actor(), source="api"
            ) if values is not None else []
        answer = self._show(subscriber, status_code=status_code)
        if left_out:  # an address suppressed for marketing: signed up (double opt-in), without new values
            answer[NOT_KEPT_HEADER] = ", ".join(left_out)
        return answer

    def _create(self, data: dict, topics) -> tuple[Subscriber, int]:
        if "consent" in data:
            outcome = subscriptions_add_with_evidence(
                email=data["email"],
                first_name=data["first_name"],
                topics=topics,
                evidence=ConsentEvidence(**data["consent"]),
                source=ConsentSource.API,
                detail=self._detail(),
                actor=self.actor(),
            )
            return outcome.subscriber, status.HTTP_201_CREATED
        subscriber, _ = subscriber_signup(
            email=data["email"],
            first_name=data["first_name"],
            topics=topics,
            source=ConsentSource.API,
            ip=self.ip(),
            detail=self._detail(),
            actor=self.actor(),
        )
        return subscriber, status.HTTP_202_ACCEPTED

    @extend_schema(request=s.SubscriberUpdateSerializer, responses=s.SubscriberAnswer)
    def partial_update(self, request, *args, **kwargs):
        subscriber = self._subscriber()
        data = self._valid(s.SubscriberUpdateSerializer, partial=True)
        values = attribute_values_check(values=data["attributes"]) if "attributes" in data else None
        with transaction.atomic():  # the name and the values, both or neither
            if "first_name" in data:
                subscriber = subscriber_details_update(
                    subscriber=subscriber, first_name=data["first_name"], actor=self.actor()
                )
            if values is not None:
                subscriber_attributes_set(subscriber=subscriber, values=values, actor=self.actor(), source="api")
        return self._show(subscriber)

    @extend_schema(request=s.SubscriberLookupSerializer, responses=s.SubscriberSerializer)
    @action(detail=False, methods=["post"])
    def lookup(self, request):
        """Find a subscriber by address (in the body, never in a URL)."""
        data = self._valid(s.SubscriberLookupSerializer)
        subscriber = subscriber_by_email(email=data["email"])
        if subscriber is None:
            return self._not_found()
        return self._show(subscriber)

    @extend_schema(request=s.TopicsSetSerializer, responses=s.TopicsOutcomeSerializer)
    @action(detail=True, methods=["put"])
    def topics(self, request, id=None):
        """The topics the person wants: added ones start double opt-in, removed ones are withdrawn at once."""
        subscriber = self._subscriber()
        data = self._valid(s.TopicsSetSerializer)
        outcome = subscriber_topics_set(
            subscriber=subscriber,
            topics=data["topics"],
            source=ConsentSource.API,
            ip=self.ip(),
            detail=self._detail(),
            actor=self.actor(),
        )
        shown = self._show(subscriber).data
        if not self._may_read():  # the lists would tell a write-only key the person's topics before the change
            return Response({"subscriber": shown})
        return Response(
            {"requested": outcome.requested, "withdrawn": outcome.withdrawn, "unchanged": outcome.unchanged,
             "subscriber": shown}
        )

    @extend_schema(request=None, responses=s.SubscriberAnswer)
    @action(detail=True, methods=["post"])
    def unsubscribe(self, request, id=None):
        """Every topic withdrawn, and the address suppressed for marketing email."""
        subscriber = self._subscriber()
        subscriber_unsubscribe_all(
            subscriber=subscriber, source=ConsentSource.API, ip=self.ip(), detail=self._detail(), actor=self.actor()
        )
        return self._show(subscriber)

    @extend_schema(request=s.ObjectionSerializer, responses=s.SubscriberAnswer)
    @action(detail=True, methods=["post"])
    def objection(self, request, id=None):
        """Record (true) or withdraw (false) the person's objection to sharing with third parties. Withdrawing one
        lets their details go to partners again, so it also needs ``privacy:write``."""
        subscriber = self._subscriber()
        data = self._valid(s.ObjectionSerializer)
        if not data["objects"] and Scope.PRIVACY_WRITE not in self.api_key().scopes:
            raise PermissionDenied(
                f"This API key lacks the scope {Scope.PRIVACY_WRITE}, which lifting an objection to sharing needs: "
                "the person's details would go to partners again."
            )
        subscriber_objection_set(
            subscriber=subscriber,
            objects=data["objects"],
            source=ConsentSource.API,
            ip=self.ip(),
            detail=self._detail(),
            actor=self.actor(),
        )
        return self._show(subscriber)

    @extend_schema(request=None, responses=s.ErasedSerializer)
    @action(detail=True, methods=["post"])
    def erase(self, request, id=None):
        """The staff erasure: personal data deleted, ledgers anonymised, every address tombstoned."""
        subscriber = self._subscriber()
        subscriber_erase(subscriber=subscriber, source=ErasureSource.STAFF, performed_by=self.actor())
        return Response({"erased": True})

    @extend_schema(request=None, responses={202: s.AccessExportSerializer})
    @action(detail=True, methods=["post"], url_path="access-export")
    def access_export(self, request, id=None):
        """A copy of the person's data, prepared in the background; the link goes to their own confirmed address,
        never to the caller."""
        subscriber_access_export_request(subscriber=self._subscriber(), actor=self.actor())
        return Response({"status": "preparing"}, status=status.HTTP_202_ACCEPTED)

    def _valid(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _not_found(self):
        return Response(
            error_body(code="not_found", message="No subscriber has this address."), status=status.HTTP_404_NOT_FOUND
        )
