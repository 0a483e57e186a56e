"""Privacy policy versions: staff publish them (now or from a set time), customers acknowledge them.

A version is evidence once recorded (every consent event names the version in force), so nothing here edits
or deletes one. The version in force is the latest whose ``published_at`` has passed
(``selectors.policy_version_current``); for that to be the newest *number* as well, every new version must be
numbered above and take effect after every version already recorded, scheduled ones included.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format

from .. import permissions
from ..audit import POLICY_PUBLISH, SUBSCRIBER_LOG
from ..fieldrules import POLICY_SUMMARY, POLICY_TEXT
from ..models import PolicyAcknowledgement, PrivacyPolicyVersion
from .errors import PolicyVersionError

VERSION_PATTERN = re.compile(r"\d{1,6}(\.\d{1,6}){0,3}")
SUMMARY_MAX = PrivacyPolicyVersion._meta.get_field("summary").max_length
# A time picked in a form is a minute or two behind by the time it is submitted: a published_at this close to now
# means "now" (and is stored as now, so no consent event falls between the stated time and the real one).
# Further in the past is refused: backdating would claim consent was given under a text that was not yet shown.
PUBLISH_NOW_GRACE = timedelta(minutes=5)


def policy_version_key(version: str) -> tuple[int, ...]:
    """"2.1" -> (2, 1), without trailing zeros, so "2", "2.0" and "2.0.0" are the same version.

    Raises ``PolicyVersionError`` for anything but numbers separated by dots."""
    if not VERSION_PATTERN.fullmatch(version or ""):
        raise PolicyVersionError(
            f"“{version}” is not a version number: use numbers separated by dots, for example 2 or 2.1.",
            field="version",
        )
    key = [int(part) for part in version.split(".")]
    while len(key) > 1 and key[-1] == 0:
        key.pop()
    return tuple(key)


def _key_or_none(version: str) -> tuple[int, ...] | None:
    try:
        return policy_version_key(version)
    except PolicyVersionError:
        return None  # a version recorded before numbers were checked takes no part in the ordering


@dataclass(frozen=True)
class PolicyVersionDraft:
    """What a new version will be, once checked: the values ``privacy_policy_publish`` stores."""

    version: str
    text: str
    summary: str
    published_at: datetime


def privacy_policy_publish_check(
    *, version: str, text: str, summary: str, published_at: datetime | None, now: datetime | None = None
) -> PolicyVersionDraft:
    """Check a version before it is published and return it cleaned; raises ``PolicyVersionError`` naming the
    field at fault. Reads only: the admin form calls it to show errors beside the fields."""
    now = now or timezone.now()
    version, text, summary = (version or "").strip(), (text or "").strip(), " ".join((summary or "").split())
    key = policy_version_key(version)
    if not text:
        raise PolicyVersionError("The policy text is empty: paste the whole policy as customers will read it.",
                                 field="text")
    if not summary:
        raise PolicyVersionError(
            "Say in a sentence or two what changed: customers see it in the notice on Account Home.", field="summary"
        )
    for name, rule, value in (("text", POLICY_TEXT, text), ("summary", POLICY_SUMMARY, summary)):
        if problem := rule.problem(value):
            raise PolicyVersionError(f"{rule.label} {problem}", field=name)
    if len(summary) > SUMMARY_MAX:
        raise PolicyVersionError(
            f"Keep the summary to {SUMMARY_MAX} characters ({len(summary)} given); the full text says the rest.",
            field="summary",
        )
    if published_at is None or now - PUBLISH_NOW_GRACE <= published_at <= now:
        published_at = now
    elif published_at < now:
        raise PolicyVersionError(
            f"{_when(published_at)} is in the past. A version takes effect now or later; leave the date empty "
            "to publish it now.",
            field="published_at",
        )
    for existing in PrivacyPolicyVersion.objects.order_by("-published_at"):
        existing_key = _key_or_none(existing.version)
        if existing_key == key:
            raise PolicyVersionError(f"Version {existing.version} already exists. Give the new one a higher number.",
                                     field="version")
        if existing_key is not None and existing_key > key:
            raise PolicyVersionError(
                f"Version {version} is lower than version {existing.version}, which already exists. "
                "Number the new one higher.",
                field="version",
            )
        if existing.published_at >= published_at:
            raise PolicyVersionError(
                f"Version {existing.version} takes effect on {_when(existing.published_at)}; "
                f"version {version} must take effect after it.",
                field="published_at",
            )
    return PolicyVersionDraft(version=version, text=text, summary=summary, published_at=published_at)


def privacy_policy_publish(
    *, version: str, text: str, summary: str, published_at: datetime | None = None, published_by=None
) -> PrivacyPolicyVersion:
    """Record a new privacy policy version, in force from ``published_at`` (now when None).

    Refused with ``PolicyVersionError`` unless the number is new and above every recorded version and it takes
    effect after all of them, and with ``ActionForbidden`` unless ``published_by`` may publish versions. Records
    who published it and when, on the version and in Wagtail's audit log.
    """
    permissions.actor_require(published_by, permissions.POLICY_PUBLISH, action="publish a privacy policy version")
    with transaction.atomic():
        # Every version row locked, in a fixed order: two staff publishing at once are checked one after the other.
        list(PrivacyPolicyVersion.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        draft = privacy_policy_publish_check(version=version, text=text, summary=summary, published_at=published_at)
        try:
            with transaction.atomic():
                policy = PrivacyPolicyVersion.objects.create(
                    version=draft.version,
                    text=draft.text,
                    summary=draft.summary,
                    published_at=draft.published_at,
                    published_by=published_by,
                    recorded_at=timezone.now(),
                )
        except IntegrityError as err:
            raise PolicyVersionError(f"Version {draft.version} already exists.", field="version") from err
        SUBSCRIBER_LOG.write(
            instance=policy,
            action=POLICY_PUBLISH,
            user=published_by,
            data={"version": policy.version, "published_at": policy.published_at.isoformat()},
        )
    return policy


def privacy_policy_acknowledge(*, user, version: PrivacyPolicyVersion) -> PolicyAcknowledgement:
    """Record that ``user`` has read ``version``. Idempotent: a second acknowledgement returns the first.

    Only a version already in effect can be acknowledged. Acknowledging one older than the version in force
    is recorded (it is true) but does not hide the notice about the newer one.
    """
    if version.published_at > timezone.now():
        raise PolicyVersionError(f"Version {version.version} does not take effect until {_when(version.published_at)}.")
    acknowledgement, _created = PolicyAcknowledgement.objects.get_or_create(user=user, version=version)
    return acknowledgement


def _when(value: datetime) -> str:
    return date_format(timezone.localtime(value), "j F Y, H:i")
