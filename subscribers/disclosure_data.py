"""Disclosures in a person's copy of their data, and at their erasure (registered as an exporter and an eraser)."""

from django.db.models import Q

from .models import Disclosure, DisclosureRecipient
from .personal_data import ErasureTarget
from .personal_data import export_time as _when
from .selectors import disclosures_for_subscriber


def disclosure_tables(subscriber_id: int) -> dict[str, list[dict]]:
    """Every disclosure the person's details were in: when, to whom, why, under which contract, what was shared."""
    return {
        "disclosures": [
            {
                "disclosed_at": _when(d.made_at),
                "kind": d.get_kind_display(),
                "recipient": d.recipient,
                "purpose": d.purpose,
                "contract_reference": d.contract_reference,
                "topic": d.topic.name if d.topic else "",
                "fields_shared": ", ".join(d.fields_shared),
            }
            for d in disclosures_for_subscriber(subscriber_id=subscriber_id)
        ]
    }


def disclosures_erase(target: ErasureTarget) -> dict[str, int]:
    """The person leaves every disclosure's list of who was in it, whether it names their subscriber or their
    account; each disclosure's row count stays true. A staff member who is erased is no longer named by the
    disclosures they made."""
    naming = Q(pk__in=[])  # nobody, until the target's subscriber or account is added
    if target.subscriber_id is not None:
        naming |= Q(subscriber_id=target.subscriber_id)
    if target.user_id is not None:
        naming |= Q(user_id=target.user_id)
    links, _ = DisclosureRecipient.objects.filter(naming).delete()
    made_by = 0
    if target.emails:
        made_by = Disclosure.objects.filter(made_by_email__in=target.emails).update(made_by_email="")
    return {"disclosure_links": links, "disclosures_made_unnamed": made_by}
