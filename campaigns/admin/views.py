"""Admin views for campaigns (HTTP only): "Send test" with the compliance checklist, the Campaigns menu target,
and sending: the "Send" confirmation (send now or schedule), a send's live progress with pause, resume and cancel,
the list of recent sends, a send's report (aggregates only), and sending again to the recipients SES never
confirmed (``in_doubt``).

Registered under /admin/ by ``wagtail_hooks.py``, so Wagtail's ``require_admin_access`` guards them; each view
then checks the user's permission on the page itself.
"""

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
from django.views.generic import FormView, TemplateView
from django_ratelimit.core import is_ratelimited
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.views.pages.utils import get_breadcrumbs_items_for_page
from wagtail.admin.widgets import AdminDateTimeInput
from wagtail.admin.widgets.button import HeaderButton

from campaigns.authoring import test_send as services
from campaigns.authoring.checks import campaign_checks, campaign_checks_pass
from campaigns.authoring.rendering import campaign_render
from campaigns.models import CampaignIndexPage, CampaignPage, Send, SendState
from campaigns.results import report
from campaigns.results.charts import timeline_chart
from campaigns.sending import in_doubt, selectors
from campaigns.sending.audience import audience_summary
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


class CampaignTestSendForm(forms.Form):
    """The addresses a test goes to; cleaned into a list of at most ten valid, normalised addresses."""

    addresses = forms.CharField(
        label="Send a test to",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "you@example.com, colleague@example.com"}),
        help_text=f"Up to {services.TEST_ADDRESSES_MAX} addresses, separated by commas, spaces or new lines.",
    )

    def clean_addresses(self) -> list[str]:
        return services.test_addresses_parse(self.cleaned_data["addresses"])


class _CampaignAdminMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs through the campaign's place in the page tree, and a link back to editing it."""

    header_icon = "mail"

    def get_page_subtitle(self):
        return self.page.get_admin_display_title()

    def get_breadcrumbs_items(self):
        return [
            *get_breadcrumbs_items_for_page(self.page, self.request.user),
            {"url": "", "label": self.page_title},
        ]

    def get_header_buttons(self):
        return [
            HeaderButton("Edit campaign", url=reverse("wagtailadmin_pages:edit", args=[self.page.pk]), icon_name="edit")
        ]


class CampaignTestSendView(_CampaignAdminMixin, FormView):
    """Shows the checklist for the campaign's latest revision and sends that revision, marked [TEST]."""

    template_name = "campaigns/admin/test_send.html"
    form_class = CampaignTestSendForm
    page_title = "Send test"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.page = get_object_or_404(CampaignPage, pk=kwargs["page_id"])

    def dispatch(self, request, *args, **kwargs):
        # Testing a campaign shows and mails its unpublished draft: the same right as editing it.
        if not self.page.permissions_for_user(request.user).can_edit():
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        draft = self.page.get_latest_revision_as_object()
        checks = campaign_checks(rendered=campaign_render(page=draft), subject=draft.subject)
        context.update(
            {
                "campaign": self.page,
                "draft": draft,
                "checks": checks,
                "checks_pass": campaign_checks_pass(checks),
                "edit_url": reverse("wagtailadmin_pages:edit", args=[self.page.pk]),
            }
        )
        return context

    def form_valid(self, form):
        addresses = form.cleaned_data["addresses"]
        if is_ratelimited(
            self.request, group="campaign-test-send", key="user", rate=settings.CAMPAIGN_TEST_RATE, increment=True
        ):
            form.add_error(None, "You have sent many tests in the last hour. Wait a while before sending more.")
            return self.form_invalid(form)
        try:
            services.campaign_test_send(page=self.page, addresses=addresses, user=self.request.user)
        except services.TestSendError as err:
            form.add_error(None, str(err))
            return self.form_invalid(form)
        messages.success(self.request, "Test sent to " + ", ".join(addresses) + ".")
        return redirect("campaigns_admin:test_send", page_id=self.page.pk)

    def form_invalid(self, form):
        messages.validation_error(self.request, "The test was not sent. Correct the addresses below.", form)
        return super().form_invalid(form)


def campaigns_explore(request):
    """The Campaigns menu item: the campaign index in the page explorer (the page tree when there is none yet)."""
    index = CampaignIndexPage.objects.first()
    if index is None:
        return redirect("wagtailadmin_explore_root")
    return redirect("wagtailadmin_explore", index.pk)


# Sending -------------------------------------------------------------------------------------------------------------


def _may_send(page: CampaignPage, user) -> bool:
    # Sending mails the published version to the whole audience: the same right as publishing it, so an editor
    # whose changes go through moderation cannot bypass it by sending.
    return page.permissions_for_user(user).can_publish()


def _may_watch(page: CampaignPage, user) -> bool:
    return page.permissions_for_user(user).can_edit()


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


class CampaignSendView(_CampaignAdminMixin, TemplateView):
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
        if not _may_send(self.page, request.user):
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
            checks = campaign_checks(rendered=campaign_render(page=published), subject=published.subject)
            summary = audience_summary(topic_ids=[t.pk for t in topics])
            context.update(
                {
                    "topics": topics,
                    "summary": summary,
                    "excluded_total": sum(summary["excluded"].values()),
                    "checks": checks,
                    "checks_pass": campaign_checks_pass(checks),
                }
            )
            context["can_send"] = bool(context["checks_pass"] and summary["eligible"] and context["open_send"] is None)
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


def _send_for(request, send_id: int, *, manage: bool = False) -> Send:
    send = get_object_or_404(Send.objects.select_related("page"), pk=send_id)
    allowed = _may_send if manage else _may_watch
    if not allowed(send.page, request.user):
        raise PermissionDenied
    return send


def eta_text(seconds: int | None) -> str:
    """The time left, roughly: on the progress page, and in its JSON view for the page's script to show."""
    if seconds is None:
        return "\u2013"  # an en dash: no estimate yet
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def duration_text(start, end) -> str:
    """How long a finished send took, to the second under a minute."""
    if not (start and end):
        return ""
    seconds = round((end - start).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


class _SendPageMixin(_CampaignAdminMixin):
    """A page about one send (``send_id`` in the URL), for someone who may watch its campaign."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.send = None

    def dispatch(self, request, *args, **kwargs):
        self.send = _send_for(request, kwargs["send_id"])
        self.page = self.send.page
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        self.sent_page = self.send.revision.as_object()  # the campaign as it was sent
        context.update(
            {
                "campaign": self.page,
                "send": self.send,
                "subject": self.send.subject_source or self.sent_page.subject,
            }
        )
        return context


class SendProgressView(_SendPageMixin, TemplateView):
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
                "can_manage": _may_send(self.page, self.request.user),
                "can_pause": state == SendState.SENDING,
                "can_resume": state == SendState.PAUSED,
                "can_cancel": state in (SendState.DRAFT, SendState.SCHEDULED, SendState.SENDING, SendState.PAUSED),
                "can_resend": state in (SendState.SENDING, SendState.PAUSED, SendState.SENT),
                "is_final": state in (SendState.SENT, SendState.CANCELLED),
                "progress_url": reverse("campaigns_admin:send_progress_json", args=[self.send.pk]),
                "sends_url": reverse("campaigns_admin:sends") + f"?campaign={self.page.pk}",
            }
        )
        return context


class SendReportView(_SendPageMixin, TemplateView):
    """A send's results for the marketing team: totals, a chart over time and clicks per link. Aggregates only:
    counts below the minimum group size show as "<5", and no person is named or listed."""

    template_name = "campaigns/admin/send_report.html"
    page_title = "Report"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "report": report.send_report(send=self.send),
                "chart": timeline_chart(report.send_timeline(send=self.send)),
                "track_clicks": bool(self.sent_page.track_clicks),
                "track_opens": bool(self.sent_page.track_opens),
                "opens_shown": report.count_shown(self.send.opens),
                "progress_url": reverse("campaigns_admin:send_progress", args=[self.send.pk]),
                "min_group": settings.REPORT_MIN_GROUP_SIZE,
            }
        )
        return context


@never_cache
@require_GET
def send_progress_json(request, send_id: int):
    """The counts behind the progress page, polled every two seconds, and the time left in words: aggregates only,
    no addresses."""
    send = _send_for(request, send_id)
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
    send = _send_for(request, send_id, manage=True)
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
    send = _send_for(request, send_id, manage=True)
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
                "rows": [(send, progress) for send, progress in rows if _may_watch(send.page, user)],
                "page_subtitle": campaign.get_admin_display_title() if campaign else "",
            }
        )
        return context
