"""Admin for privacy policy versions (HTTP only): the list, "Publish a new version" through the service, and a
version's page with its status, who published it, how many customers acknowledged it, and actions other apps add.

Versions are never edited or deleted (``RestrictedPermissionPolicy`` refuses both to everyone, superusers too):
consent events point at them. Other apps put buttons on a version's page through the
``register_privacy_policy_version_actions`` hook, so that ``subscribers`` needs nothing from them: each hook
function takes ``(version, request)`` and returns a ``PolicyVersionAction`` or None.
"""

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from wagtail import hooks
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, ObjectList
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.generic.models import CreateView, InspectView
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets import AdminDateTimeInput
from wagtail.log_actions import LogFormatter

from .. import selectors
from ..models import PrivacyPolicyVersion
from ..services import PolicyVersionError, privacy_policy_publish, privacy_policy_publish_check

VERSION_ACTIONS_HOOK = "register_privacy_policy_version_actions"


@dataclass(frozen=True)
class PolicyVersionAction:
    """A button on a version's admin page: a POST (CSRF-protected) to ``url``."""

    label: str
    url: str
    description: str = ""


def policy_version_status(version: PrivacyPolicyVersion, *, current: PrivacyPolicyVersion | None = None) -> str:
    """"In force", "Scheduled" (takes effect later) or "Superseded"."""
    if version.published_at > timezone.now():
        return "Scheduled"
    current = current if current is not None else selectors.policy_version_current()
    return "In force" if current is not None and current.pk == version.pk else "Superseded"


def _when(value) -> str:
    return date_format(timezone.localtime(value), "j F Y, H:i") if value else ""


def _published_by(version: PrivacyPolicyVersion) -> str:
    user = version.published_by
    return (user.get_full_name() or user.email) if user else "—"


class PolicyVersionForm(WagtailAdminModelForm):
    """A new version. The checks are the service's (``privacy_policy_publish_check``), shown beside each field."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        published_at = self.fields["published_at"]
        published_at.required = False
        published_at.initial = None
        published_at.label = "Takes effect"
        published_at.help_text = (
            "Leave empty to publish now, or pick a later date and time (UK time) to announce it ahead. "
            "Every version is kept; none can be edited or deleted once published."
        )
        self.fields["summary"].required = True
        self.fields["text"].help_text = "The whole policy, as customers will read it at /privacy/."
        current = selectors.policy_version_current()
        if current is not None:
            self.fields["version"].help_text = (
                f"Numbers and dots, higher than every version so far (the version in force is {current.version})."
            )

    def clean(self):
        cleaned = super().clean()
        # The unique check on ``version`` is the service's, with a clearer message than the model's.
        self._validate_unique = False
        if not self.errors:
            try:
                self.draft = privacy_policy_publish_check(
                    version=cleaned.get("version", ""),
                    text=cleaned.get("text", ""),
                    summary=cleaned.get("summary", ""),
                    published_at=cleaned.get("published_at"),
                )
            except PolicyVersionError as err:
                self.add_error(err.field, str(err))
        return cleaned


class PolicyVersionCreateView(CreateView):
    """Publishes through ``privacy_policy_publish``, which records who published it and logs it."""

    page_title = "Publish a new version"
    submit_button_label = "Publish"
    submit_button_active_label = "Publishing…"

    def form_valid(self, form):
        self.form = form
        try:
            self.object = privacy_policy_publish(
                version=form.cleaned_data["version"],
                text=form.cleaned_data["text"],
                summary=form.cleaned_data["summary"],
                published_at=form.cleaned_data.get("published_at"),
                published_by=self.request.user,
            )
        except PolicyVersionError as err:  # another version was published between the form's check and now
            form.add_error(err.field, str(err))
            return self.form_invalid(form)
        return self.save_action()

    def get_success_message(self, instance):
        if instance.published_at > timezone.now():
            return f"Privacy policy {instance.version} published: it takes effect on {_when(instance.published_at)}."
        return f"Privacy policy {instance.version} published and in force now."

    def get_success_url(self):
        return reverse("privacy_policy_versions:inspect", args=[self.object.pk])

    def get_success_buttons(self):
        return []


class PolicyVersionInspectView(InspectView):
    """A version's page: what it says, its status, who published it, acknowledgements, and other apps' actions."""

    template_name = "subscribers/admin/policy_version_inspect.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        version = self.object
        actions = [action for fn in hooks.get_hooks(VERSION_ACTIONS_HOOK) if (action := fn(version, self.request))]
        context.update(
            {
                "version": version,
                "status": policy_version_status(version),
                "acknowledgement_count": version.acknowledgements.count(),
                "public_url": reverse("privacy_policy:version", args=[version.version]),
                "actions": actions,
                "history_url": reverse("privacy_policy_versions:history", args=[version.pk]),
            }
        )
        return context


class PrivacyPolicyVersionViewSet(ModelViewSet):
    model = PrivacyPolicyVersion
    name = "privacy_policy_versions"
    url_prefix = "privacy-policy-versions"
    icon = "doc-full"
    menu_label = "Privacy policy versions"
    add_view_class = PolicyVersionCreateView
    inspect_view_class = PolicyVersionInspectView
    inspect_view_enabled = True
    copy_view_enabled = False
    edit_handler = ObjectList(
        [
            FieldPanel("version"),
            FieldPanel("summary", widget=forms.Textarea(attrs={"rows": 3})),
            FieldPanel("published_at", widget=AdminDateTimeInput),
            FieldPanel("text"),
        ],
        base_form_class=PolicyVersionForm,
    )
    list_display = [
        "version",
        Column("status", label="Status", accessor=policy_version_status),
        Column("published_at", label="Takes effect", accessor=lambda v: _when(v.published_at)),
        "summary",
        Column("published_by", label="Published by", accessor=_published_by),
    ]
    ordering = ["-published_at"]


class PolicyPublishLogFormatter(LogFormatter):
    """Wagtail's audit log: "Published privacy policy 2.1, in force from 1 January 2027, 00:00"."""

    label = "Publish privacy policy version"

    def format_message(self, log_entry):
        data = log_entry.data or {}
        when = data.get("published_at")
        when_text = _when(datetime.fromisoformat(when)) if when else ""
        return f"Published privacy policy {data.get('version', '')}, in force from {when_text}"
