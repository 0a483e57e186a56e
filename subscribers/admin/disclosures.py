"""Admin views (HTTP only) for disclosures: the log of every handing-over of personal data to another
organisation, a page per disclosure, and the partner export (choose a partner and a topic, see who is in it and
who is left out and why, then download the CSV, which logs the disclosure).

Also the partners' viewset, the Disclosures menu (partners, the log, a new export), the URL table and the
permissions offered in Settings > Groups. Registered under /admin/ by ``wagtail_hooks.py``, so Wagtail's
``require_admin_access`` guards them. Reading the log needs ``subscribers.view_disclosure``; exporting needs
``subscribers.export_to_partner`` (and shows the log too). Superusers have both. Nobody can change or delete a
disclosure.
"""

import secrets

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse, reverse_lazy
from django.views.generic import FormView, TemplateView
from wagtail.admin import messages
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, ObjectList
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSetGroup
from wagtail.admin.viewsets.model import ModelViewSet

from .. import fieldrules, selectors
from ..models import Disclosure, Partner, Topic
from ..permissions import DISCLOSURE_VIEW, PARTNER_EXPORT
from ..services.disclosures import PARTNER_EXPORT_FIELDS, partner_export_create
from ..services.errors import DisclosureError, DisclosureRepeated
from .breadcrumbs import section_breadcrumbs
from .permissions import PermissionMenuItem, offered_permissions

SHOWN = 200  # the log shows the most recent disclosures only


def user_may_export(user) -> bool:
    return user.has_perm(PARTNER_EXPORT)


def user_may_view(user) -> bool:
    return user.has_perm(DISCLOSURE_VIEW) or user_may_export(user)


def user_may_manage_partners(user) -> bool:
    return any(user.has_perm(f"subscribers.{action}_partner") for action in ("view", "add", "change"))


class PartnerExportForm(forms.Form):
    partner = forms.ModelChoiceField(
        label="Partner",
        queryset=Partner.objects.filter(is_active=True),
        empty_label="Choose a partner",
        help_text="Only active partners, each under a data-sharing contract.",
    )
    topic = forms.ModelChoiceField(
        label="Topic",
        queryset=Topic.objects.filter(is_active=True),
        empty_label="Choose a topic",
        help_text="Its subscribers who may be shared are exported.",
    )
    # A random key per confirmation page: the same page sent twice exports once.
    request_key = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)


class _DisclosureAdminMixin(WagtailAdminTemplateMixin):
    """Breadcrumbs Home > Disclosures > this page, and the permission each view needs."""

    header_icon = "upload"
    needs_export = False
    below_the_log = True

    def dispatch(self, request, *args, **kwargs):
        allowed = user_may_export(request.user) if self.needs_export else user_may_view(request.user)
        if not allowed:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        section = ("disclosures_admin:index", DisclosureIndexView.page_title) if self.below_the_log else None
        return section_breadcrumbs(title=self.get_page_title(), section=section)


class DisclosureIndexView(_DisclosureAdminMixin, TemplateView):
    """Every disclosure, newest first: when, who made it, to whom, what, how many people, the checksum."""

    template_name = "subscribers/admin/disclosures/index.html"
    page_title = "Disclosures"
    below_the_log = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        disclosures = Disclosure.objects.select_related("topic", "partner")[:SHOWN]
        context.update(
            {
                "disclosures": disclosures,
                "shown": SHOWN,
                "can_export": user_may_export(self.request.user),
                "can_manage_partners": user_may_manage_partners(self.request.user),
            }
        )
        return context


class DisclosureDetailView(_DisclosureAdminMixin, TemplateView):
    template_name = "subscribers/admin/disclosures/detail.html"

    def get(self, request, *args, **kwargs):
        # Looked up after the permission check (in dispatch), so that who may not read the log learns nothing.
        self.disclosure = get_object_or_404(
            Disclosure.objects.select_related("topic", "partner", "made_by"), pk=kwargs["disclosure_id"]
        )
        return super().get(request, *args, **kwargs)

    def get_page_title(self):
        return f"Disclosure #{self.disclosure.pk}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        still_held = self.disclosure.recipients.count()
        context.update(
            {
                "disclosure": self.disclosure,
                "still_held": still_held,
                "erased_since": max(0, self.disclosure.row_count - still_held),
            }
        )
        return context


class PartnerExportChooseView(_DisclosureAdminMixin, FormView):
    """Step 1: choose the partner and the topic (a GET form to the confirmation)."""

    template_name = "subscribers/admin/disclosures/choose.html"
    form_class = PartnerExportForm
    page_title = "New partner export"
    needs_export = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["has_partners"] = selectors.partners_active().exists()
        context["can_add_partner"] = self.request.user.has_perm("subscribers.add_partner")
        return context


class PartnerExportConfirmView(_DisclosureAdminMixin, TemplateView):
    """Step 2: who will be included and who is left out, by reason; "Export" downloads the CSV and logs it."""

    template_name = "subscribers/admin/disclosures/confirm.html"
    page_title = "Confirm the partner export"
    needs_export = True

    def get_breadcrumbs_items(self):
        *items, this = super().get_breadcrumbs_items()
        return [*items, {"url": reverse("disclosures_admin:export"), "label": PartnerExportChooseView.page_title}, this]

    def get(self, request, *args, **kwargs):
        form = PartnerExportForm(request.GET)
        if not form.is_valid():
            return self._back_to_choose(form)
        return self.render_to_response(self._context(form, request_key=secrets.token_hex(16)))

    def post(self, request, *args, **kwargs):
        form = PartnerExportForm(request.POST)
        if not form.is_valid():
            return self._back_to_choose(form)
        data = form.cleaned_data
        try:
            disclosure, file = partner_export_create(
                partner=data["partner"],
                topic=data["topic"],
                made_by=request.user,
                request_key=data["request_key"] or None,
            )
        except DisclosureRepeated as err:
            messages.warning(request, str(err))
            if err.disclosure is None:
                return redirect("disclosures_admin:index")
            return redirect("disclosures_admin:detail", disclosure_id=err.disclosure.pk)
        except DisclosureError as err:
            messages.error(request, f"Nothing was exported. {err}")
            return self.render_to_response(self._context(form, request_key=secrets.token_hex(16)))
        response = FileResponse(file, as_attachment=True, filename=disclosure.file_name, content_type="text/csv")
        response["Cache-Control"] = "no-store"
        response["X-Disclosure-Id"] = str(disclosure.pk)
        return response

    def _back_to_choose(self, form):
        messages.validation_error(self.request, "Choose an active partner and an active topic.", form)
        view = PartnerExportChooseView(request=self.request, args=self.args, kwargs=self.kwargs)
        return view.render_to_response(view.get_context_data(form=form))

    def _context(self, form, *, request_key: str) -> dict:
        partner, topic = form.cleaned_data["partner"], form.cleaned_data["topic"]
        summary = selectors.partner_export_summary(topic=topic)
        left_out = [
            ("objected", "Objected to their details being shared", summary["objected"]),
            (
                "suppressed",
                "Erased, bounced, complained, or unsubscribed from all marketing",
                summary["suppressed"],
            ),
            ("not_active", "Not subscribed now (confirmation pending, or unsubscribed)", summary["not_active"]),
            ("soft_opt_in", "Soft opt-in: covers our own products only, never sharing", summary["soft_opt_in"]),
        ]
        return self.get_context_data(
            partner=partner,
            topic=topic,
            included=summary["included"],
            left_out=left_out,
            left_out_total=sum(count for _, _, count in left_out),
            fields=PARTNER_EXPORT_FIELDS,
            request_key=request_key,
        )


class PartnerForm(fieldrules.RuleFieldsMixin, WagtailAdminModelForm):
    """A partner's name, purpose and contract, each on one line: they go into file names, CSV headers and the log."""

    field_rules = {
        "name": fieldrules.PARTNER_NAME,
        "purpose": fieldrules.PARTNER_PURPOSE,
        "contract_reference": fieldrules.CONTRACT_REFERENCE,
    }


class PartnerViewSet(ModelViewSet):
    model = Partner
    name = "partners"
    icon = "site"
    menu_label = "Partners"
    menu_order = 3
    edit_handler = ObjectList(
        [FieldPanel("name"), FieldPanel("purpose"), FieldPanel("contract_reference"), FieldPanel("is_active")],
        base_form_class=PartnerForm,
    )
    list_display = ["name", "purpose", "contract_reference", "is_active", "created_at"]
    list_filter = ["is_active"]
    copy_view_enabled = False


class DisclosuresGroup(ViewSetGroup):
    menu_label = "Disclosures"
    menu_icon = "upload"
    menu_order = 215
    items = (PartnerViewSet,)
    submenu_hook = "register_disclosures_menu_item"


admin_patterns = (
    [
        path("", DisclosureIndexView.as_view(), name="index"),
        path("<int:disclosure_id>/", DisclosureDetailView.as_view(), name="detail"),
        path("partner-export/", PartnerExportChooseView.as_view(), name="export"),
        path("partner-export/confirm/", PartnerExportConfirmView.as_view(), name="confirm"),
    ],
    "disclosures_admin",
)


def log_menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "Disclosure log",
        reverse_lazy("disclosures_admin:index"),
        name="disclosure-log",
        icon_name="list-ul",
        order=1,
        shown_to=user_may_view,
    )


def export_menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "New partner export",
        reverse_lazy("disclosures_admin:export"),
        name="partner-export",
        icon_name="download",
        order=2,
        shown_to=user_may_export,
    )


def group_permissions():
    """Offered in Settings > Groups: read the log; export to a partner; export for a sale of the business."""
    return offered_permissions("view_disclosure", "export_to_partner", "export_business_transfer")
