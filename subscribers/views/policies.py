"""The privacy policy for everyone to read (the version in force, earlier ones, one announced for later), and the
acknowledgement of the "our privacy policy changed" notice on Account Home."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from ..models import PrivacyPolicyVersion
from ..selectors import (
    policy_version_by_number,
    policy_version_current,
    policy_version_superseded_at,
    policy_versions_published,
    policy_versions_upcoming,
)
from ..services import PolicyVersionError, privacy_policy_acknowledge


def _policy_page(request, *, policy: PrivacyPolicyVersion, current: PrivacyPolicyVersion | None):
    upcoming = list(policy_versions_upcoming())
    return render(
        request,
        "privacy/policy.html",
        {
            "policy": policy,
            "current": current,
            "is_current": current is not None and policy.pk == current.pk,
            "is_upcoming": policy in upcoming,
            "superseded_at": policy_version_superseded_at(version=policy),
            "versions": list(policy_versions_published()),
            "upcoming": upcoming,
        },
    )


@require_GET
def privacy_policy(request):
    """/privacy/: the version in force, what changed, and the list of every version."""
    current = policy_version_current()
    if current is None:
        raise Http404("No privacy policy has been published yet.")
    return _policy_page(request, policy=current, current=current)


@require_GET
def privacy_policy_version(request, version: str):
    """/privacy/<version>/: one version, in force, earlier or announced for a later date."""
    policy = policy_version_by_number(version=version)
    if policy is None:
        raise Http404(f"There is no privacy policy version {version}.")
    return _policy_page(request, policy=policy, current=policy_version_current())


@login_required
@require_POST
def policy_acknowledge(request):
    """The "I've read it" button of the notice on Account Home (CSRF-protected, like every form that changes state)."""
    version_id = request.POST.get("version", "")
    if not version_id.isdigit():
        messages.error(request, "That form was incomplete: nothing was recorded. Please try again.")
        return redirect("account:home")
    version = get_object_or_404(PrivacyPolicyVersion, pk=int(version_id))
    try:
        privacy_policy_acknowledge(user=request.user, version=version)
    except PolicyVersionError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, f"Thank you: we have noted that you read privacy policy version {version.version}.")
    return redirect("account:home")
