"""Campaigns and their sends (``campaigns:read``), and sending them (``campaigns:send``).

HTTP only: reads go through the campaigns selectors and the report, actions through the sending services, which check
``may_send`` for the key's service user and write the audit log with it as the actor, exactly as for staff in the
admin. A send in the wrong state is a 409 with the reason.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import CampaignPage, Send, SendState
from campaigns.results.report import send_report
from campaigns.sending import selectors
from campaigns.sending.services import (
    SendStateError,
    send_cancel,
    send_now,
    send_pause,
    send_resume,
    send_schedule_new,
)

from ..errors import domain_error_register
from ..schema import ErrorSerializer
from ..scopes import Scope
from .base import ApiGenericView
from .campaigns_serializers import (
    CampaignSerializer,
    ScheduleSerializer,
    SendDetailSerializer,
    SendNowSerializer,
    SendSerializer,
    results_given,
)

# A send in a state that does not allow the action: a conflict with the resource's state, with its own code so a
# caller can tell it from other refusals.
domain_error_register(SendStateError, status_code=status.HTTP_409_CONFLICT, code="send_state")

CONFLICT = OpenApiResponse(ErrorSerializer, description="The send's state does not allow it; the message says why.")


def send_detail(send: Send) -> dict:
    """A send with its live progress and its results under the privacy floor."""
    progress = selectors.send_progress(send=send)
    # Opens are counted only when the version sent asked for it; otherwise there is no number to give.
    tracked_opens = send.revision.as_object().track_opens
    results = results_given(send_report(send=send), opens=send.opens if tracked_opens else None)
    return SendDetailSerializer(send, context={"progress": {send.pk: progress}, "results": results}).data


# Campaigns --------------------------------------------------------------------------------------------------------


class CampaignListView(ApiGenericView):
    """Every campaign page, newest first."""

    required_scope = Scope.CAMPAIGNS_READ
    serializer_class = CampaignSerializer
    queryset = CampaignPage.objects.prefetch_related("topics")

    @extend_schema(operation_id="campaigns_list", responses=CampaignSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class CampaignDetailView(ApiGenericView):
    """One campaign page."""

    required_scope = Scope.CAMPAIGNS_READ
    serializer_class = CampaignSerializer

    def get(self, request, campaign_id: int):
        page = get_object_or_404(CampaignPage.objects.prefetch_related("topics"), pk=campaign_id)
        return Response(self.get_serializer(page).data)


# Sends ------------------------------------------------------------------------------------------------------------

STATE_FILTER = OpenApiParameter(
    "state",
    str,
    description="Only sends in these states, comma-separated: " + ", ".join(SendState.values) + ".",
)


class SendListView(ApiGenericView):
    """Sends, newest first, each with its progress (counted for the whole page in one query)."""

    required_scope = Scope.CAMPAIGNS_READ
    serializer_class = SendSerializer

    def states(self) -> list[str]:
        value = self.request.query_params.get("state", "")
        states = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in states if name not in SendState.values]
        if unknown:
            raise serializers.ValidationError(
                {"state": [f"Unknown state {', '.join(unknown)}. The states are: {', '.join(SendState.values)}."]}
            )
        return states

    def get_queryset(self):
        sends = Send.objects.select_related("page")
        states = self.states()
        if states:
            sends = sends.filter(state__in=states)
        return sends

    def sends_page(self, queryset):
        sends = self.paginate_queryset(queryset)
        context = {**self.get_serializer_context(), "progress": selectors.sends_progress(sends=sends)}
        return self.get_paginated_response(SendSerializer(sends, many=True, context=context).data)

    @extend_schema(operation_id="sends_list", parameters=[STATE_FILTER], responses=SendSerializer(many=True))
    def get(self, request):
        return self.sends_page(self.get_queryset())


class CampaignSendListView(SendListView):
    """The sends of one campaign."""

    @extend_schema(
        operation_id="campaigns_sends_list", parameters=[STATE_FILTER], responses=SendSerializer(many=True)
    )
    def get(self, request, campaign_id: int):
        page = get_object_or_404(CampaignPage, pk=campaign_id)
        return self.sends_page(self.get_queryset().filter(page=page))


class SendDetailView(ApiGenericView):
    """One send: its live progress (with the current rate and the time left) and its aggregate results."""

    required_scope = Scope.CAMPAIGNS_READ
    serializer_class = SendDetailSerializer

    def get(self, request, send_id: int):
        return Response(send_detail(get_object_or_404(Send.objects.select_related("page", "revision"), pk=send_id)))


# Sending ----------------------------------------------------------------------------------------------------------


class CampaignSendNowView(ApiGenericView):
    """Send the published campaign to its audience now: the admin's "Send now"."""

    required_scope = Scope.CAMPAIGNS_SEND
    serializer_class = SendNowSerializer

    @extend_schema(request=SendNowSerializer, responses={201: SendDetailSerializer, 409: CONFLICT})
    def post(self, request, campaign_id: int):
        page = get_object_or_404(CampaignPage, pk=campaign_id)
        body = SendNowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        send = send_now(page=page, user=self.actor(), seen_send_id=body.validated_data.get("seen_send_id"))
        return Response(send_detail(send), status=status.HTTP_201_CREATED)


class CampaignScheduleView(ApiGenericView):
    """Schedule a send of the published campaign: the admin's "Schedule"."""

    required_scope = Scope.CAMPAIGNS_SEND
    serializer_class = ScheduleSerializer

    @extend_schema(request=ScheduleSerializer, responses={201: SendDetailSerializer, 409: CONFLICT})
    def post(self, request, campaign_id: int):
        page = get_object_or_404(CampaignPage, pk=campaign_id)
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        send = send_schedule_new(
            page=page,
            when=body.validated_data["when"],
            user=self.actor(),
            seen_send_id=body.validated_data.get("seen_send_id"),
        )
        return Response(send_detail(send), status=status.HTTP_201_CREATED)


# action: (service, the states it acts from, the state it leads to, those states in words, the action's participle)
SEND_ACTIONS = {
    "pause": (send_pause, (SendState.SENDING,), SendState.PAUSED, "sending", "paused"),
    "resume": (send_resume, (SendState.PAUSED,), SendState.SENDING, "paused", "resumed"),
    "cancel": (
        send_cancel,
        (SendState.DRAFT, SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED),
        SendState.CANCELLED,
        "a draft, scheduled, sending or paused",
        "cancelled",
    ),
}


class SendActionView(ApiGenericView):
    """Pause, resume or cancel a send through its service. The services change nothing for a send in another state
    (the admin's buttons rely on that); the API says so with a 409 instead of answering as if it had acted."""

    required_scope = Scope.CAMPAIGNS_SEND
    serializer_class = SendDetailSerializer
    send_action: str = ""

    @extend_schema(request=None, responses={200: SendDetailSerializer, 409: CONFLICT})
    def post(self, request, send_id: int):
        send = get_object_or_404(Send.objects.select_related("page", "revision"), pk=send_id)
        service, from_states, to_state, from_text, done = SEND_ACTIONS[self.send_action]
        before = send.state
        # The pause's reason is shown on the send's progress page: it says which key paused it.
        extra = {}
        if service is send_pause:
            extra["reason"] = f"Paused through the API by the key “{self.api_key().name}”"
        send = service(send=send, user=self.actor(), **extra)
        if before not in from_states or send.state != to_state:
            raise SendStateError(
                f"Nothing changed: the send is {send.get_state_display().lower()}; "
                f"only a send that is {from_text} can be {done}."
            )
        return Response(send_detail(send))


class SendPauseView(SendActionView):
    """Workers stop before their next message; resume goes on where they stopped."""

    send_action = "pause"


class SendResumeView(SendActionView):
    """Back to sending a paused send."""

    send_action = "resume"


class SendCancelView(SendActionView):
    """Stop for good: rows not yet attempted are skipped."""

    send_action = "cancel"
