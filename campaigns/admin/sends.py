"""Admin views for sending (HTTP only): the "Send" confirmation (send now or schedule), a send's live progress
with pause, resume and cancel, the list of recent sends, and sending again to the recipients SES never confirmed
(``in_doubt``)."""

import json
from dataclasses import replace

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets import AdminDateTimeInput

from campaigns.admin.base import (
    CampaignAdminMixin,
    SendPageMixin,
    duration_text,
    eta_text,
    send_for,
)
from campaigns.authoring.checks import campaign_checks, campaign_checks_pass
from campaigns.authoring.personalise import subject_samples
from campaigns.authoring.rendering import campaign_render
from campaigns.models import CampaignPage, SendState
from campaigns.permissions import may_author, may_send
from campaigns.segments.describe import segment_describe
from campaigns.segments.errors import SegmentError
from campaigns.sending import in_doubt, selectors
from campaigns.sending.audience_counts import audience_count
from campaigns.sending.services import (
    SendStateError,
    send_cancel,
    send_create,
    send_now,
    send_pause,
    send_resume,
    send_schedule,
)
from mailer.ses import SesError, ses_send_events_problem


class CampaignSendScheduleForm(forms.Form):
    """When a scheduled send starts; a time in the future, in the admin's time zone."""

    scheduled_for = forms.DateTimeField(
        label="Send at",
        widget=AdminDateTimeInput,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = timezone.get_current_timezone_name()
        self.fields["scheduled_for"].help_text = f"Time zone {zone}. The send starts within a minute of this time."

    def clean_scheduled_for(self):
        when = self.cleaned_data["scheduled_for"]
        if when <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.", code="past")
        return when


def send_events_warning() -> str:
    """A plain warning when SES does not report the messages it accepts (Send events); empty when it does.

    Without those events, recipients left in doubt by a crash cannot be settled automatically. Sending is not
    refused for it: the warning says what is at stake.
    """
    try:
        problem = ses_send_events_problem()
    except SesError as err:
        problem = f"SES did not answer when asked ({err})."
    if not problem:
        return ""
    return (
        "SES is not set up to tell us which messages it accepted (Send events). "
        f"{problem} If a worker is lost in the middle of a call to SES, its recipients stay in doubt and cannot "
        "be settled automatically. See the SES section of the operations guide."
    )


class CampaignSendView(CampaignAdminMixin, TemplateView):
    """The confirmation step: who receives the published campaign and who is left out, the checklist, then
    "Send now" or "Schedule". Every POST carries the id of the newest send the page showed, so a double click
    or a resubmitted form starts one send only (``send_now`` refuses the second)."""

    template_name = "campaigns/admin/send_confirm.html"
    page_title = "Send"
    http_method_names = ["get", "post"]

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.page = get_object_or_404(CampaignPage, pk=kwargs["page_id"])

    def dispatch(self, request, *args, **kwargs):
        if not may_send(self.page, request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, schedule_form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        published = self.page.live_revision.as_object() if self.page.live and self.page.live_revision else None
        context.update(
            {
                "campaign": self.page,
                "published": published,
                "open_send": selectors.send_open_for_campaign(page_id=self.page.pk),
                "last_sent": selectors.send_last_finished(page_id=self.page.pk),
                "seen_send_id": selectors.send_newest_id(page_id=self.page.pk),
                "schedule_form": schedule_form or CampaignSendScheduleForm(),
                "send_events_warning": send_events_warning(),
                "edit_url": reverse("wagtailadmin_pages:edit", args=[self.page.pk]),
                "sends_url": reverse("campaigns_admin:sends") + f"?campaign={self.page.pk}",
            }
        )
        if published is not None:
            topics = list(published.topics.all())
            rendered = campaign_render(page=published)
            checks = campaign_checks(rendered=rendered, subject=published.subject)
            segment = published.segment if published.segment_id else None
            topic_ids, recount = [t.pk for t in topics], self.request.GET.get("recount") == "1"
            try:
                count = audience_count(
                    topic_ids=topic_ids, segment_definition=segment.definition if segment else None, recount=recount
                )
            except SegmentError as err:
                # A segment that no longer checks (a choice it names removed, a topic renamed): say so, send nothing.
                context["segment_error"] = str(err)
                count = audience_count(topic_ids=topic_ids, recount=recount)
                if count.summary is not None:
                    count = replace(count, summary={**count.summary, "eligible": 0})
            # Not counted yet (a large audience, counted in the background): the page says so and reloads itself.
            summary = count.summary or {"on_topics": 0, "in_segment": 0, "eligible": 0, "excluded": {}}
            context["segment"] = segment
            context["audience_count"] = count
            context["audience_count_inline_max"] = settings.AUDIENCE_COUNT_INLINE_MAX
            context["recount_url"] = f"{self.request.path}?recount=1"
            context.update(
                {
                    "subject": rendered.subject_source,
                    "subject_samples": subject_samples(rendered=rendered),
                    "topics": topics,
                    "summary": summary,
                    "excluded_total": sum(summary["excluded"].values()),
                    "checks": checks,
                    "checks_pass": campaign_checks_pass(checks),
                }
            )
            counted = count.summary is not None
            context["can_send"] = bool(
                context["checks_pass"] and counted and summary["eligible"] and context["open_send"] is None
            )
        return context

    def post(self, request, *args, **kwargs):
        try:
            seen_send_id = int(request.POST.get("seen_send_id", ""))
        except ValueError:
            seen_send_id = None
        action = request.POST.get("action")
        if seen_send_id is None or action not in ("send_now", "schedule"):
            messages.error(request, "That form was incomplete; nothing was sent. Check the details and try again.")
            return redirect("campaigns_admin:send", page_id=self.page.pk)
        if action == "send_now":
            return self._send_now(seen_send_id)
        return self._schedule(seen_send_id)

    def _refused(self, err: SendStateError):
        """A refused send: to the campaign's running send when there is one (the usual double click), else back."""
        open_send = selectors.send_open_for_campaign(page_id=self.page.pk)
        if open_send is not None:
            messages.warning(self.request, f"Nothing new was sent. {err}")
            return redirect("campaigns_admin:send_progress", send_id=open_send.pk)
        messages.error(self.request, f"The campaign was not sent. {err}")
        return redirect("campaigns_admin:send", page_id=self.page.pk)

    def _send_now(self, seen_send_id: int):
        try:
            send = send_now(page=self.page, user=self.request.user, seen_send_id=seen_send_id)
        except SendStateError as err:
            return self._refused(err)
        messages.success(self.request, f"Sending to {send.total:,} subscribers.")
        warning = send_events_warning()
        if warning:
            messages.warning(self.request, warning)
        return redirect("campaigns_admin:send_progress", send_id=send.pk)

    def _schedule(self, seen_send_id: int):
        form = CampaignSendScheduleForm(self.request.POST)
        if not form.is_valid():
            messages.validation_error(self.request, "The campaign was not scheduled. Correct the time below.", form)
            return self.render_to_response(self.get_context_data(schedule_form=form))
        if selectors.send_newest_id(page_id=self.page.pk) != seen_send_id:
            return self._refused(SendStateError("This campaign was sent or scheduled after this page was shown."))
        when = form.cleaned_data["scheduled_for"]
        try:
            with transaction.atomic():  # a refused schedule leaves no draft send behind
                user = self.request.user
                send = send_schedule(send=send_create(page=self.page, user=user), when=when, user=user)
        except SendStateError as err:
            return self._refused(err)
        when_text = timezone.localtime(send.scheduled_for).strftime("%d %b %Y at %H:%M")
        messages.success(self.request, f"Scheduled for {when_text}.")
        return redirect("campaigns_admin:send_progress", send_id=send.pk)


class SendProgressView(SendPageMixin, TemplateView):
    """One send: state, counts and a progress bar the page's script refreshes from ``send_progress_json``."""

    template_name = "campaigns/admin/send_progress.html"
    page_title = "Progress"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        progress = selectors.send_progress(send=self.send)
        state = self.send.state
        context.update(
            {
                "progress": progress,
                "eta_text": eta_text(progress["eta_seconds"]),
                "took_text": duration_text(self.send.started_at, self.send.finished_at),
                "unknown_rows": selectors.send_unknown_deliveries(send=self.send),
                "in_doubt": in_doubt.send_in_doubt_summary(send=self.send),
                "history": selectors.send_history(send=self.send),
                "can_manage": may_send(self.page, self.request.user),
                "can_pause": state == SendState.SENDING,
                "can_resume": state == SendState.PAUSED,
                "can_cancel": state in (SendState.DRAFT, SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED),
                "can_resend": state in (SendState.SENDING, SendState.PAUSED, SendState.SENT),
                "is_final": state in (SendState.SENT, SendState.CANCELLED),
                "segment_lines": segment_describe(self.send.segment_definition),
                "segment_json": json.dumps(self.send.segment_definition, indent=2, ensure_ascii=False),
                "progress_url": reverse("campaigns_admin:send_progress_json", args=[self.send.pk]),
                "sends_url": reverse("campaigns_admin:sends") + f"?campaign={self.page.pk}",
            }
        )
        return context


@never_cache
@require_GET
def send_progress_json(request, send_id: int):
    """The counts behind the progress page, polled every two seconds, and the time left in words: aggregates only,
    no addresses."""
    send = send_for(request, send_id)
    progress = selectors.send_progress(send=send)
    return JsonResponse({**progress, "eta_text": eta_text(progress["eta_seconds"])})


SEND_ACTIONS = {
    "pause": (send_pause, "Paused. Workers stop before their next message."),
    "resume": (send_resume, "Resumed."),
    "cancel": (send_cancel, "Cancelled. Messages not yet sent will not be sent."),
}


@require_POST
def send_action(request, send_id: int, action: str):
    """Pause, resume or cancel, through the services; a button for a state the send has left changes nothing."""
    send = send_for(request, send_id, manage=True)
    service, done = SEND_ACTIONS[action]
    before = send.state
    send = service(send=send, user=request.user)
    if send.state == before:
        messages.warning(request, f"Nothing changed: the send is {send.get_state_display().lower()}.")
    else:
        messages.success(request, done)
    return redirect("campaigns_admin:send_progress", send_id=send.pk)


class UnconfirmedResendForm(forms.Form):
    """The person's confirmation that they accept the risk, and the number of recipients they were shown."""

    understood = forms.BooleanField(required=True)
    expected = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


@require_POST
def send_unconfirmed_resend(request, send_id: int):
    """The action "Send again to the N recipients SES never confirmed"; the same permission as pause, resume, cancel."""
    send = send_for(request, send_id, manage=True)
    form = UnconfirmedResendForm(request.POST)
    if not form.is_valid():
        if "understood" in form.errors:
            messages.error(
                request,
                "Nothing was sent again. Tick the box to confirm you understand that some of these people may "
                "already have received this email.",
            )
        else:
            messages.error(
                request, "That form was incomplete; nothing was sent again. Check the numbers and try again."
            )
        return redirect("campaigns_admin:send_progress", send_id=send.pk)
    try:
        rows = in_doubt.deliveries_unconfirmed_resend(
            send=send, user=request.user, expected=form.cleaned_data["expected"]
        )
    except in_doubt.UnconfirmedResendError as err:
        messages.warning(request, str(err))
        return redirect("campaigns_admin:send_progress", send_id=send.pk)
    people = f"{rows:,} recipient{'s' if rows != 1 else ''}"
    if send.state == SendState.PAUSED:
        messages.success(
            request, f"{people} queued to be sent again. The send is paused: they go out when you resume it."
        )
    else:
        messages.success(request, f"{people} queued to be sent again. Their outcome shows below as they go out.")
    return redirect("campaigns_admin:send_progress", send_id=send.pk)


class SendsIndexView(WagtailAdminTemplateMixin, TemplateView):
    """Recent sends of every campaign (or of one, with ``?campaign=<page id>``), newest first, with progress."""

    template_name = "campaigns/admin/sends_index.html"
    page_title = "Sends"
    header_icon = "history"

    def get_breadcrumbs_items(self):
        return [{"url": reverse("wagtailadmin_home"), "label": "Home"}, {"url": "", "label": self.page_title}]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        campaign = None
        if self.request.GET.get("campaign", "").isdigit():
            campaign = get_object_or_404(CampaignPage, pk=int(self.request.GET["campaign"]))
        rows = selectors.sends_recent(page_id=campaign.pk if campaign else None)
        user = self.request.user
        context.update(
            {
                "campaign": campaign,
                "rows": [(send, progress) for send, progress in rows if may_author(send.page, user)],
                "page_subtitle": campaign.get_admin_display_title() if campaign else "",
            }
        )
        return context
