"""Announcing a new privacy policy version by email, through the normal pipeline.

"Announce this change by email" on a version's admin page creates a draft campaign: the summary of what changed
and a link to the version's public page, addressed to every active topic. Staff review and publish it like any
campaign, then send it from its "Send" step, which shows the audience counts; the audience snapshot writes one
delivery per person however many topics they are on, and leaves out whoever is unsubscribed or suppressed.

Campaigns have no notion of a service message, so the email keeps the unsubscribe footer of every campaign.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from wagtail.log_actions import log

from campaigns.authoring.demo_content import campaign_index
from campaigns.errors import CampaignError
from campaigns.models import BrandSettings, CampaignPage
from subscribers.models import PrivacyPolicyVersion, Topic
from subscribers.selectors import policy_version_current


def policy_announcement_slug(version: PrivacyPolicyVersion) -> str:
    return f"privacy-policy-{version.version.replace('.', '-')}"


def policy_announcement_existing(*, version: PrivacyPolicyVersion) -> CampaignPage | None:
    """The announcement already drafted for ``version``, if any (one per version)."""
    return CampaignPage.objects.filter(slug=policy_announcement_slug(version)).first()


def policy_announcement_allowed(*, version: PrivacyPolicyVersion) -> bool:
    """A version in force, or one that takes effect later, can be announced; a superseded one cannot."""
    if version.published_at > timezone.now():
        return True
    current = policy_version_current()
    return current is not None and current.pk == version.pk


def _merge_safe(text: str) -> str:
    # Text from the summary goes into a campaign body, where "{{" starts a merge field: keep it literal.
    return text.replace("{{", "{ {").replace("}}", "} }")


def policy_announcement_draft_create(*, version: PrivacyPolicyVersion, user=None) -> tuple[CampaignPage, bool]:
    """A draft campaign announcing ``version`` to every active topic; (the page, whether it was created now).

    A second call returns the draft made by the first rather than a duplicate. Nothing is sent: the draft goes
    through review, publishing and the "Send" confirmation like every campaign.
    """
    if not policy_announcement_allowed(version=version):
        raise CampaignError(
            f"Version {version.version} is no longer in force: announce the version in force instead."
        )
    with transaction.atomic():
        existing = policy_announcement_existing(version=version)
        if existing is not None:
            return existing, False
        brand = BrandSettings.load()
        when = date_format(timezone.localtime(version.published_at), "j F Y")
        in_future = version.published_at > timezone.now()
        link = f"{settings.SITE_URL.rstrip('/')}/privacy/{version.version}/"
        summary = _merge_safe(version.summary) or "We have published a new version of our privacy policy."
        effect = f"takes effect on {when}" if in_future else f"has been in force since {when}"
        page = CampaignPage(
            title=f"Privacy policy {version.version}: announcement",
            slug=policy_announcement_slug(version),
            live=False,
            subject=f"We have updated our privacy policy (version {version.version})",
            preheader=summary[:200],
            sender=brand.default_sender or (settings.CAMPAIGN_SENDERS or [settings.DEFAULT_FROM_EMAIL])[0],
            track_clicks=False,
            track_opens=False,
            body=[
                ("heading", {"text": "Our privacy policy has changed", "level": "h1"}),
                (
                    "text",
                    f"<p>Dear {{{{ first_name|customer }}}},</p><p>Version {escape(version.version)} of our privacy "
                    f"policy {effect}. In short:</p><p><b>{escape(summary)}</b></p><p>You do not need to do "
                    "anything. You can read the whole policy, and every earlier version, on our website.</p>",
                ),
                ("button", {"text": "Read the privacy policy", "link": link}),
            ],
        )
        page.topics = list(Topic.objects.filter(is_active=True))
        campaign_index().add_child(instance=page)
        page.save_revision(user=user)
        log(instance=page, action="wagtail.create", user=user)
    return page, True
