"""Admin (HTTP only): "Announce this change by email" on a privacy policy version's page creates the draft
campaign (``policy_announcement_draft_create``) and opens it in the page editor."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from wagtail.admin import messages

from campaigns.authoring.demo_content import campaign_index
from campaigns.authoring.policy_announcement import (
    policy_announcement_allowed,
    policy_announcement_draft_create,
    policy_announcement_existing,
)
from campaigns.errors import CampaignError
from campaigns.models import CampaignIndexPage
from subscribers.admin.policies import PolicyVersionAction
from subscribers.models import PrivacyPolicyVersion


def may_draft_campaigns(user) -> bool:
    index = CampaignIndexPage.objects.first()
    if index is None:
        return user.is_superuser
    return index.permissions_for_user(user).can_add_subpage()


def policy_announcement_action(version: PrivacyPolicyVersion, request) -> PolicyVersionAction | None:
    """The button on a version's admin page, for staff who may draft campaigns, unless the version is superseded."""
    if not may_draft_campaigns(request.user) or not policy_announcement_allowed(version=version):
        return None
    existing = policy_announcement_existing(version=version)
    description = (
        "Creates a draft campaign with what changed and a link to this version, addressed to every active "
        "topic (each person once). You review it, publish it and send it as usual; nothing is sent until then."
    )
    if existing is not None:
        description = f"A draft already exists (“{existing.title}”): this opens it."
    return PolicyVersionAction(
        label="Announce this change by email",
        url=reverse("campaigns_admin:policy_announcement", args=[version.pk]),
        description=description,
    )


@require_POST
def policy_announcement_create_view(request, version_id: int):
    version = get_object_or_404(PrivacyPolicyVersion, pk=version_id)
    if not may_draft_campaigns(request.user):
        raise PermissionDenied
    try:
        campaign_index()  # created on first use, as the demo does
        page, created = policy_announcement_draft_create(version=version, user=request.user)
    except CampaignError as err:
        messages.error(request, str(err))
        return redirect("privacy_policy_versions:inspect", version.pk)
    if created:
        messages.success(
            request,
            f"Draft campaign “{page.title}” created for every active topic. Check it, publish it, then choose "
            "Send from its menu.",
        )
    else:
        messages.info(request, f"The announcement of version {version.version} was already drafted: here it is.")
    return redirect("wagtailadmin_pages:edit", page.pk)
