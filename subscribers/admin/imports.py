"""Admin views (HTTP only) for importing subscribers from a CSV file: upload, choose the columns, dry run, import,
with a progress page that polls a small JSON view, and the row errors as CSV.

Also their URL table, the "Import subscribers" menu item and the permission offered in Settings > Groups.
Registered under /admin/subscriber-imports/ by ``wagtail_hooks.py``; every view needs the permission
``subscribers.import_subscribers`` (superusers have it).
"""

import csv

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse, reverse_lazy
from django.views.decorators.http import require_POST
from django.views.generic import FormView, TemplateView
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from ..csvcells import csv_cell
from ..fieldrules import CONSENT_SOURCE, RuleFieldsMixin
from ..models import Attribute, PrivacyPolicyVersion, SubscriberImport, Topic
from ..permissions import IMPORT
from ..selectors import topic_default
from ..services.errors import SubscriberImportError
from ..services.imports import ATTRIBUTE_FIELD, FIELDS, field_label
from ..services.imports.jobs import import_options_save, import_progress, import_start, import_upload
from ..services.imports.reader import size_text
from .breadcrumbs import section_breadcrumbs
from .permissions import PermissionMenuItem, offered_permissions

ERRORS_SHOWN = 50
RECENT_SHOWN = 20
# What the progress page says a running import is doing, for each phase the worker reports.
PHASE_TEXT = {
    "queued": "Waiting for a worker to start…",
    "reading": "Reading and checking the rows…",
    "checking": "Working out what to do with each row…",
    "writing": "Writing subscribers, subscriptions and consent events…",
    "finished": "Finished.",
}


def user_may_import(user) -> bool:
    return user.has_perm(IMPORT)


def _job_or_404(import_id: int) -> SubscriberImport:
    return get_object_or_404(SubscriberImport, pk=import_id)


def _progress_shown(job: SubscriberImport) -> dict:
    """The import's progress with, for a phase the page knows, its words (``phase_text``); without them the page
    keeps what it showed."""
    progress = import_progress(job=job)
    if progress["phase"] in PHASE_TEXT:
        progress["phase_text"] = PHASE_TEXT[progress["phase"]]
    return progress


def _guard(request) -> None:
    if not user_may_import(request.user):
        raise PermissionDenied


class UploadForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,  # the import says "The file is empty.", as the command does
        label="CSV file",
        help_text="UTF-8 (“CSV UTF-8” in a spreadsheet), with a header row naming the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class MappingForm(RuleFieldsMixin, forms.Form):
    """One select per field, listing the file's columns; the topic, source and policy version for the whole file."""

    field_rules = {"source": CONSENT_SOURCE}

    def __init__(self, *args, job: SubscriberImport, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— not in the file —"), *[(c, c) for c in job.columns]]
        for field, label in FIELDS.items():
            self.fields[f"map_{field}"] = forms.ChoiceField(
                label=label, choices=choices, required=field == "email", initial=job.mapping.get(field, "")
            )
        # A select per declared attribute; matched at upload to a column named like its key or label.
        self.attributes = list(Attribute.objects.all())
        for attribute in self.attributes:
            field = ATTRIBUTE_FIELD + attribute.key
            self.fields[f"map_{field}"] = forms.ChoiceField(
                label=f"{attribute.label} (attribute)",
                choices=choices,
                required=False,
                initial=job.mapping.get(field, ""),
            )
        options = job.options
        self.fields["topic"] = forms.ModelChoiceField(
            label="Topic for the whole file",
            queryset=Topic.objects.filter(is_active=True),
            required=False,
            empty_label="— none: every row names its topic —",
            initial=options.get("topic_id") or topic_default().pk,
            help_text="Used for rows whose topic cell is empty, or for every row when no column is chosen for topic.",
        )
        self.fields["source"] = forms.CharField(
            label="Consent source for the whole file",
            required=False,
            max_length=100,
            initial=options.get("source", ""),
            help_text="Where these people gave consent (such as “Spring fair sign-up sheet”), for rows without one.",
        )
        self.fields["policy_version"] = forms.ChoiceField(
            label="Privacy policy version for the whole file",
            required=False,
            choices=[
                ("", "— none —"),
                *[(v, v) for v in PrivacyPolicyVersion.objects.values_list("version", flat=True)],
            ],
            initial=options.get("policy_version", ""),
            help_text="The policy they agreed to, for rows without a wording or a version of their own.",
        )
        self.fields["skip_bad_rows"] = forms.BooleanField(
            label="Skip bad rows",
            required=False,
            initial=options.get("skip_bad_rows", False),
            help_text="Import the good rows even when some rows have errors. Otherwise any row error stops the "
            "whole import, and nothing is imported.",
        )
        self.job = job

    def mapping(self) -> dict[str, str]:
        fields = [*FIELDS, *(ATTRIBUTE_FIELD + attribute.key for attribute in self.attributes)]
        return {field: self.cleaned_data.get(f"map_{field}", "") for field in fields}


class _ImportAdminMixin(WagtailAdminTemplateMixin):
    header_icon = "upload"

    def dispatch(self, request, *args, **kwargs):
        _guard(request)
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        index = self.page_title == ImportIndexView.page_title
        section = None if index else ("imports_admin:index", ImportIndexView.page_title)
        return section_breadcrumbs(title=self.get_page_title(), section=section)


class ImportIndexView(_ImportAdminMixin, FormView):
    """Upload a file; the recent imports below."""

    template_name = "subscribers/admin/imports/index.html"
    page_title = "Import subscribers"
    form_class = UploadForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["imports"] = SubscriberImport.objects.select_related("created_by")[:RECENT_SHOWN]
        context["max_size"] = size_text(settings.IMPORT_MAX_FILE_BYTES)
        return context

    def form_valid(self, form):
        try:
            job = import_upload(upload=form.cleaned_data["file"], created_by=self.request.user)
        except SubscriberImportError as err:
            form.add_error("file", str(err))
            return self.form_invalid(form)
        return redirect("imports_admin:mapping", import_id=job.pk)


class ImportMappingView(_ImportAdminMixin, FormView):
    template_name = "subscribers/admin/imports/mapping.html"
    page_title = "Choose the columns"

    def dispatch(self, request, *args, **kwargs):
        _guard(request)
        self.job = _job_or_404(kwargs["import_id"])
        if self.job.is_final or self.job.is_running:
            return redirect("imports_admin:detail", import_id=self.job.pk)
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        return MappingForm(**self.get_form_kwargs(), job=self.job)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "job": self.job}

    def form_valid(self, form):
        try:
            job = import_options_save(
                job=self.job,
                mapping=form.mapping(),
                topic=form.cleaned_data["topic"],
                source=form.cleaned_data["source"],
                policy_version=form.cleaned_data["policy_version"],
                skip_bad_rows=form.cleaned_data["skip_bad_rows"],
            )
            import_start(job=job, dry_run=True, user=self.request.user)
        except SubscriberImportError as err:
            form.add_error(None, str(err))
            return self.form_invalid(form)
        return redirect("imports_admin:detail", import_id=job.pk)


class ImportDetailView(_ImportAdminMixin, TemplateView):
    """Progress while it runs (the bar polls ``import_progress_json``); the dry-run report or the result after."""

    template_name = "subscribers/admin/imports/detail.html"

    def dispatch(self, request, *args, **kwargs):
        _guard(request)  # before the lookup, so that who may not import cannot learn which imports exist
        self.job = _job_or_404(kwargs["import_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_page_title(self):
        return f"Import of {self.job.file_name}"

    def get_context_data(self, **kwargs):
        job = self.job
        report = job.report if job.report else job.dry_run_report
        return {
            **super().get_context_data(**kwargs),
            "job": job,
            "report": report,
            "is_dry_run_report": not job.report and bool(job.dry_run_report),
            "progress": _progress_shown(job),
            "progress_url": reverse("imports_admin:progress", args=[job.pk]),
            "errors_shown": job.errors[:ERRORS_SHOWN],
            "fields": {field_label(f): c for f, c in job.mapping.items()},
            "topic": Topic.objects.filter(pk=job.options.get("topic_id")).first(),
        }


def import_progress_json(request, import_id: int):
    """Polled every second by the progress page: status, phase and how far the run got. Counts only, no
    addresses."""
    _guard(request)
    return JsonResponse(_progress_shown(_job_or_404(import_id)))


@require_POST
def import_start_view(request, import_id: int):
    _guard(request)
    job = _job_or_404(import_id)
    try:
        import_start(job=job, dry_run=False, user=request.user)
    except SubscriberImportError as err:
        messages.error(request, str(err))
    return redirect("imports_admin:detail", import_id=job.pk)


def import_errors_csv(request, import_id: int):
    """The row errors kept for an import (the first IMPORT_MAX_ERRORS), as CSV: line, column, problem."""
    _guard(request)
    job = _job_or_404(import_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    writer = csv.writer(response)
    writer.writerow(["line", "column", "problem"])
    for line, column, problem in job.errors:
        writer.writerow([line, csv_cell(column), csv_cell(problem)])
    return response


admin_patterns = (
    [
        path("", ImportIndexView.as_view(), name="index"),
        path("<int:import_id>/", ImportDetailView.as_view(), name="detail"),
        path("<int:import_id>/columns/", ImportMappingView.as_view(), name="mapping"),
        path("<int:import_id>/import/", import_start_view, name="start"),
        path("<int:import_id>/progress.json", import_progress_json, name="progress"),
        path("<int:import_id>/errors.csv", import_errors_csv, name="errors_csv"),
    ],
    "imports_admin",
)


def menu_item() -> PermissionMenuItem:
    return PermissionMenuItem(
        "Import subscribers",
        reverse_lazy("imports_admin:index"),
        name="import-subscribers",
        icon_name="upload",
        order=205,
        shown_to=user_may_import,
    )


def group_permissions():
    """Offered in Settings > Groups: "Can import subscribers from a CSV file"."""
    return offered_permissions("import_subscribers")
