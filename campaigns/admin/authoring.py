"""Admin views for authoring (HTTP only): "Send test" with the compliance checklist, and the Campaigns menu
target."""

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import FormView
from django_ratelimit.core import is_ratelimited
from wagtail.admin import messages

from campaigns.admin.base import (
    CampaignAdminMixin,
)
from campaigns.authoring import test_send as services
from campaigns.authoring.checks import campaign_checks, campaign_checks_pass
from campaigns.authoring.rendering import campaign_render
from campaigns.models import CampaignIndexPage, CampaignPage
from campaigns.permissions import may_author


class CampaignTestSendForm(forms.Form):
    """The addresses a test goes to; cleaned into a list of at most ten valid, normalised addresses."""

    addresses = forms.CharField(
        label="Send a test to",
        max_length=services.TEST_ADDRESSES_MAX * 256,  # ten of the longest addresses, with their separators
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "you@example.com, colleague@example.com"}),
        help_text=f"Up to {services.TEST_ADDRESSES_MAX} addresses, separated by commas, spaces or new lines.",
    )

    def clean_addresses(self) -> list[str]:
        return services.test_addresses_parse(self.cleaned_data["addresses"])


class CampaignTestSendView(CampaignAdminMixin, FormView):
    """Shows the checklist for the campaign's latest revision and sends that revision, marked [TEST]."""

    template_name = "campaigns/admin/test_send.html"
    form_class = CampaignTestSendForm
    page_title = "Send test"

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.page = get_object_or_404(CampaignPage, pk=kwargs["page_id"])

    def dispatch(self, request, *args, **kwargs):
        # Testing a campaign shows and mails its unpublished draft: the same right as editing it.
        if not may_author(self.page, request.user):
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
