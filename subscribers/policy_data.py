"""Acknowledgements of privacy policy versions as personal data: a table in the person's copy of their data, and
removed at erasure (registered with ``personal_data`` in ``SubscribersConfig.ready()``)."""

from .models import PolicyAcknowledgement
from .personal_data import ErasureTarget
from .personal_data import export_time as _when


def policy_acknowledgements_export(subscriber_id: int) -> dict[str, list[dict]]:
    acknowledgements = (
        PolicyAcknowledgement.objects.filter(user__subscriber__pk=subscriber_id)
        .select_related("version")
        .order_by("acknowledged_at", "pk")
    )
    return {
        "privacy_policy_acknowledgements": [
            {
                "privacy_policy_version": a.version.version,
                "version_published_at": _when(a.version.published_at),
                "acknowledged_at": _when(a.acknowledged_at),
            }
            for a in acknowledgements
        ]
    }


def policy_acknowledgements_erase(target: ErasureTarget) -> dict[str, int]:
    """The account's acknowledgements would go with it anyway (on delete cascade); deleting them here counts them
    in the erasure log."""
    if target.user_id is None:
        return {"policy_acknowledgements": 0}
    deleted, _ = PolicyAcknowledgement.objects.filter(user_id=target.user_id).delete()
    return {"policy_acknowledgements": deleted}
