"""Admin views (HTTP only) for requests from people to exercise their data-protection rights: the list of open
requests by deadline, the closed ones, "Record a request", one request's page with "Mark done" and "Refuse", and
for an erasure request "Erase this person now" behind a confirmation step.

Also their URL table, the "Privacy requests" menu item and the dashboard panel of open requests. Registered
under /admin/ by ``wagtail_hooks.py``, so Wagtail's ``require_admin_access`` guards them; each view then asks for
one of the model's Django permissions: view to read, add to record, change to close or erase.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse_lazy
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST
from django.views.generic import FormView, TemplateView
from wagtail.admin import messages
from wagtail.admin.ui.components import Component
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets import AdminDateInput

from .. import fieldrules, selectors
from ..models import (
    ConsentSource,
    ErasureSource,
    RightsRequest,
    RightsRequestChannel,
    RightsRequestKind,
    RightsRequestStatus,
    Subscriber,
)
from ..services import RightsRequestError, rights_request_close, rights_request_open, third_party_objection_set
from ..services.access_export import access_export_request
from ..services.errors import AccessExportError
from .breadcrumbs import section_breadcrumbs
from .permissions import PermissionMenuItem


def user_may(user, action: str) -> bool:
    """Whether ``user`` may ``action`` ("view", "add", "change") requests; superusers always may."""
    return user.has_perm(f"subscribers.{action}_rightsrequest")


def user_may_view(user) -> bool:
    return user_may(user, "view")


class RightsRequestRecordForm(fieldrules.RuleFieldsMixin, forms.Form):
    """A request as staff received it. The address finds the subscriber; it is not stored on the request."""

    kind = forms.ChoiceField(label="What they ask for", choices=RightsRequestKind.choices)
    channel = forms.ChoiceField(label="How it reached us", choices=RightsRequestChannel.choices)
    received_on = forms.DateField(
        label="Date received",
        widget=AdminDateInput,
        help_text="The day it reached us, even a weekend: the one-month deadline counts from this day.",
    )
    email = forms.EmailField(label="Their email address", help_text="The address we hold for them as a subscriber.")
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=RightsRequest._meta.get_field("note").max_length,
        help_text="A reference for staff, such as “letter of 3 March”. Not their details.",
    )
    field_rules = {"note": fieldrules.RIGHTS_NOTE}

    def clean_email(self) -> Subscriber:
        email = self.cleaned_data["email"]
        subscriber = selectors.subscriber_by_email(email=email)
        if subscriber is None:
            raise forms.ValidationError(
                f"No subscriber has the address {email}. Check it against the request; if we hold nothing for "
                "this address there is nothing to record here.",
                code="unknown_subscriber",
            )
        return subscriber


class RightsRequestCloseForm(fieldrules.RuleFieldsMixin, forms.Form):
    """Closing a request: done, or refused with the reason."""

    status = forms.ChoiceField(choices=[(s, s) for s in (RightsRequestStatus.DONE, RightsRequestStatus.REFUSED)])
    outcome = forms.CharField(required=False, max_length=RightsRequest._meta.get_field("outcome").max_length)
    field_rules = {"outcome": fieldrules.RIGHTS_OUTCOME}


CLOSED_SHOWN = 200  # the closed list shows the most recent ones only


def _rights_request_or_404(request_id: int) -> RightsRequest:
    return get_object_or_404(RightsRequest.objects.select_related("subscriber"), pk=request_id)


class _RightsAdminMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs Home > Privacy requests > this page, and the permission each view needs."""

    header_icon = "lock"
    permission_action = "view"
    below_the_list = True  # a breadcrumb back to the list of open requests

    def dispatch(self, request, *args, **kwargs):
        if not user_may(request.user, self.permission_action):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        section = ("rights_admin:index", RightsRequestIndexView.page_title) if self.below_the_list else None
        return section_breadcrumbs(title=self.get_page_title(), section=section)


class RightsRequestIndexView(_RightsAdminMixin, TemplateView):
    """Open requests, the nearest deadline first, with how many days are left."""

    template_name = "subscribers/admin/rights/index.html"
    page_title = "Privacy requests"
    below_the_list = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "requests": selectors.rights_requests_open(),
                "due_soon_days": selectors.RIGHTS_REQUEST_DUE_SOON_DAYS,
                "can_add": user_may(self.request.user, "add"),
            }
        )
        return context


class RightsRequestClosedView(_RightsAdminMixin, TemplateView):
    """The most recently closed requests, newest first."""

    template_name = "subscribers/admin/rights/closed.html"
    page_title = "Closed privacy requests"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update({"requests": selectors.rights_requests_closed()[:CLOSED_SHOWN], "closed_shown": CLOSED_SHOWN})
        return context


class RightsRequestRecordView(_RightsAdminMixin, FormView):
    """ "Record a request": looks the address up to a subscriber and opens the request with its deadline."""

    template_name = "subscribers/admin/rights/record.html"
    form_class = RightsRequestRecordForm
    page_title = "Record a request"
    permission_action = "add"

    def get_initial(self):
        return {"received_on": timezone.localdate(), "channel": RightsRequestChannel.EMAIL}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            rights_request = rights_request_open(
                kind=data["kind"],
                channel=data["channel"],
                received_on=data["received_on"],
                subscriber=data["email"],
                note=data["note"],
                created_by=self.request.user,
            )
        except RightsRequestError as err:
            form.add_error(err.field, str(err))
            return self.form_invalid(form)
        deadline = date_format(rights_request.deadline, "l j F Y")
        messages.success(self.request, f"Recorded. Answer it by {deadline}.")
        return redirect("rights_admin:detail", request_id=rights_request.pk)

    def form_invalid(self, form):
        messages.validation_error(self.request, "The request was not recorded. Correct the fields below.", form)
        return super().form_invalid(form)


class _OneRequestMixin(_RightsAdminMixin):
    """A page about one request (``request_id`` in the URL)."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.rights_request = _rights_request_or_404(kwargs["request_id"])

    def get_page_title(self):
        return f"{self.rights_request.get_kind_display()} request #{self.rights_request.pk}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rights_request = selectors.rights_request_with_days_left(rights_request=self.rights_request)
        may_change = user_may(self.request.user, "change")
        context.update(
            {
                "rights_request": rights_request,
                "due_soon_days": selectors.RIGHTS_REQUEST_DUE_SOON_DAYS,
                "can_close": may_change and rights_request.status == RightsRequestStatus.OPEN,
                "can_erase": may_change and selectors.rights_request_erasable(rights_request=rights_request),
                "can_export": may_change and _open_about(rights_request, RightsRequestKind.ACCESS),
                "can_object": may_change and _open_about(rights_request, RightsRequestKind.OBJECTION),
            }
        )
        return context


class RightsRequestDetailView(_OneRequestMixin, TemplateView):
    """One request: its details, the person's address while we hold it, and the ways to close it."""

    template_name = "subscribers/admin/rights/detail.html"


class RightsRequestEraseConfirmView(_OneRequestMixin, TemplateView):
    """The step before an erasure: what will go, and that it cannot be undone. The button POSTs to ``erase``."""

    template_name = "subscribers/admin/rights/erase_confirm.html"
    permission_action = "change"

    def get_page_title(self):
        return "Erase this person"


def _open_about(rights_request: RightsRequest, kind: str) -> bool:
    """An open request of this kind about a subscriber we still hold."""
    return (
        rights_request.status == RightsRequestStatus.OPEN
        and rights_request.kind == kind
        and rights_request.subscriber_id is not None
    )


def _request_for_change(request, request_id: int) -> RightsRequest:
    if not user_may(request.user, "change"):
        raise PermissionDenied
    return _rights_request_or_404(request_id)


@require_POST
def rights_request_close_view(request, request_id: int):
    """ "Mark done" or "Refuse", through ``rights_request_close``; a refusal without a reason changes nothing."""
    rights_request = _request_for_change(request, request_id)
    form = RightsRequestCloseForm(request.POST)
    if not form.is_valid():
        problems = " ".join(form.errors.get("outcome", [])) or "That form was incomplete."
        messages.error(request, f"The request was not closed. {problems}")
        return redirect("rights_admin:detail", request_id=rights_request.pk)
    try:
        rights_request = rights_request_close(
            request=rights_request,
            status=form.cleaned_data["status"],
            outcome=form.cleaned_data["outcome"],
            closed_by=request.user,
        )
    except RightsRequestError as err:
        messages.error(request, f"The request was not closed. {err}")
    else:
        messages.success(request, f"Closed as {rights_request.get_status_display().lower()}.")
    return redirect("rights_admin:detail", request_id=rights_request.pk)


@require_POST
def rights_request_erase_view(request, request_id: int):
    """Erase the person an open erasure request is about, which also closes the request as done."""
    # Imported when used, so that the rest of the privacy admin does not depend on the erasure module.
    from ..services.erasure import subscriber_erase

    rights_request = _request_for_change(request, request_id)
    if not selectors.rights_request_erasable(rights_request=rights_request):
        messages.error(request, "Nothing was erased: this is not an open erasure request about a subscriber we hold.")
        return redirect("rights_admin:detail", request_id=rights_request.pk)
    subscriber_erase(
        subscriber=rights_request.subscriber,
        source=ErasureSource.STAFF,
        performed_by=request.user,
        rights_request=rights_request,
    )
    messages.success(request, "Erased. Their data is gone and the request is closed as done.")
    return redirect("rights_admin:detail", request_id=rights_request.pk)


@require_POST
def rights_request_export_view(request, request_id: int):
    """Prepare a copy of the person's data and email its link to their confirmed address; the request closes as
    done when the email goes."""
    rights_request = _request_for_change(request, request_id)
    if not _open_about(rights_request, RightsRequestKind.ACCESS):
        messages.error(request, "Nothing was prepared: this is not an open request for a copy about someone we hold.")
        return redirect("rights_admin:detail", request_id=rights_request.pk)
    try:
        access_export_request(
            subscriber=rights_request.subscriber, requested_by=request.user, rights_request=rights_request
        )
    except AccessExportError as err:
        messages.error(request, f"Nothing was prepared. {err}")
    else:
        messages.success(
            request, "The copy is being prepared; its link goes to their confirmed address, then this request closes."
        )
    return redirect("rights_admin:detail", request_id=rights_request.pk)


@require_POST
def rights_request_objection_view(request, request_id: int):
    """Record the person's objection to sharing with third parties (the third-party suppression scope) and close."""
    rights_request = _request_for_change(request, request_id)
    if not _open_about(rights_request, RightsRequestKind.OBJECTION):
        messages.error(request, "Nothing was recorded: this is not an open objection about someone we hold.")
        return redirect("rights_admin:detail", request_id=rights_request.pk)
    third_party_objection_set(subscriber=rights_request.subscriber, objects=True, source=ConsentSource.ADMIN)
    rights_request_close(
        request=rights_request,
        status=RightsRequestStatus.DONE,
        outcome="Objection recorded: left out of every partner export.",
        closed_by=request.user,
    )
    messages.success(request, "Objection recorded; they are left out of every partner export. The request is done.")
    return redirect("rights_admin:detail", request_id=rights_request.pk)


admin_patterns = (
    [
        path("", RightsRequestIndexView.as_view(), name="index"),
        path("closed/", RightsRequestClosedView.as_view(), name="closed"),
        path("record/", RightsRequestRecordView.as_view(), name="record"),
        path("<int:request_id>/", RightsRequestDetailView.as_view(), name="detail"),
        path("<int:request_id>/close/", rights_request_close_view, name="close"),
        path("<int:request_id>/erase/", RightsRequestEraseConfirmView.as_view(), name="erase_confirm"),
        path("<int:request_id>/erase/confirmed/", rights_request_erase_view, name="erase"),
        path("<int:request_id>/export/", rights_request_export_view, name="export"),
        path("<int:request_id>/objection/", rights_request_objection_view, name="objection"),
    ],
    "rights_admin",
)


def menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "Privacy requests",
        reverse_lazy("rights_admin:index"),
        name="privacy-requests",
        icon_name="lock",
        order=210,
        shown_to=user_may_view,
    )


class RightsRequestsPanel(Component):
    """Dashboard panel: open privacy requests, those due soon and those overdue, linking to the list."""

    name = "rights_requests"
    order = 40
    template_name = "subscribers/admin/rights/panel.html"

    def get_context_data(self, parent_context=None):
        return {"counts": selectors.rights_request_counts(), "due_soon_days": selectors.RIGHTS_REQUEST_DUE_SOON_DAYS}


def dashboard_panels(user) -> list[Component]:
    return [RightsRequestsPanel()] if user_may_view(user) else []
