"""Every change to a saved segment: create, change, delete. Each checks who acts (``campaigns.manage_segments``;
``user`` None is the platform) and the definition first, and writes the audit log with the person who acted, in
the transaction of the change."""

from django.db import transaction
from django.db.models import ProtectedError

from campaigns.audit import campaign_action_log
from campaigns.errors import CampaignForbidden
from campaigns.permissions import may_manage_segments
from campaigns.segments.errors import SegmentError
from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_definition_hold


def _actor_require(user, action: str) -> None:
    if user is not None and not may_manage_segments(user):
        raise CampaignForbidden(f"You may not {action} segments: your roles do not allow it.")


def _name_check(*, name: str, exclude_id: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise SegmentError("name", "a segment needs a name")
    if len(name) > Segment._meta.get_field("name").max_length:
        raise SegmentError("name", "the name is longer than 100 characters")
    if Segment.objects.filter(name__iexact=name).exclude(pk=exclude_id).exists():
        raise SegmentError("name", f"a segment named {name!r} exists already")
    return name


def segment_create(*, name: str, definition: dict, description: str = "", user=None) -> Segment:
    """Save a new segment after checking its name and definition; nothing is saved if either is refused."""
    _actor_require(user, "create")
    name = _name_check(name=name)
    with transaction.atomic():
        cleaned = segment_definition_hold(definition)
        segment = Segment.objects.create(
            name=name, description=description[:255], definition=cleaned, created_by=user
        )
        campaign_action_log(instance=segment, action="campaigns.segment_create", user=user)
    return segment


def segment_update(
    *, segment: Segment, user=None, name: str | None = None, description: str | None = None, definition=None
) -> Segment:
    """Change a segment's name, description or definition (those given). Sends already started keep the
    definition they started with (``Send.segment_definition``); campaigns not yet sent use the new one."""
    _actor_require(user, "change")
    if name is not None:
        segment.name = _name_check(name=name, exclude_id=segment.pk)
    if description is not None:
        segment.description = description[:255]
    with transaction.atomic():
        if definition is not None:
            segment.definition = segment_definition_hold(definition)
        segment.save()
        campaign_action_log(instance=segment, action="campaigns.segment_update", user=user)
    return segment


def segment_delete(*, segment: Segment, user=None) -> None:
    """Delete a segment no campaign uses; a segment in use is refused with the campaigns that use it."""
    _actor_require(user, "delete")
    try:
        with transaction.atomic():
            campaign_action_log(instance=segment, action="campaigns.segment_delete", user=user)
            segment.delete()
    except ProtectedError as err:
        names = ", ".join(sorted({str(obj) for obj in err.protected_objects}))
        raise SegmentError("segment", f"used by {names}; choose another segment for them first") from err
