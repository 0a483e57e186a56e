"""What this app holds about one subscriber, as tables for their copy of their data (registered as an exporter)."""

from django.conf import settings

from .addresses import address_hmac
from .attributevalues import attribute_value_text, stored_value
from .models import AttributeValue, ConsentEvent, DetailsChange, RightsRequest, Subscriber, Suppression
from .personal_data import export_time as _when


def subscriber_tables(subscriber_id: int) -> dict[str, list[dict]]:
    subscriber = Subscriber.objects.select_related("user__profile").get(pk=subscriber_id)
    user = subscriber.user
    profile = getattr(user, "profile", None) if user else None
    tables = {
        "subscriber": [
            {
                "email": subscriber.email,
                "first_name": subscriber.first_name,
                "email_confirmed_at": _when(subscriber.email_confirmed_at),
                "created_at": _when(subscriber.created_at),
            }
        ],
        "account": [
            {
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "registered_at": _when(user.date_joined),
                "last_login": _when(user.last_login),
            }
        ]
        if user
        else [],
        "profile": [
            {
                "telephone": profile.telephone,
                "address_line1": profile.address_line1,
                "address_line2": profile.address_line2,
                "town": profile.town,
                "county": profile.county,
                "postcode": profile.postcode,
                "country": profile.country,
                "updated_at": _when(profile.updated_at),
            }
        ]
        if profile
        else [],
        "corrections": [
            {"fields_changed": ", ".join(change.fields), "changed_at": _when(change.changed_at)}
            for change in DetailsChange.objects.filter(user=user)
        ]
        if user
        else [],
        "subscriptions": [
            {
                "topic": s.topic.name,
                "status": s.get_status_display(),
                "lawful_basis": s.get_lawful_basis_display(),
                "requested_at": _when(s.requested_at),
                "confirmed_at": _when(s.confirmed_at),
                "unsubscribed_at": _when(s.unsubscribed_at),
            }
            for s in subscriber.subscriptions.select_related("topic")
        ],
        # What staff recorded about the person (subscribers/models/attributes.py), by the attribute's label.
        "attributes": [
            {"key": row.attribute.key, "label": row.attribute.label, "value": attribute_value_text(stored_value(row))}
            for row in AttributeValue.objects.filter(subscriber=subscriber)
            .select_related("attribute")
            .order_by("attribute__position", "attribute__label")
        ],
        "consent_history": [
            {
                "occurred_at": _when(e.occurred_at),
                "topic": e.topic.name if e.topic else "",
                "purpose": e.get_purpose_display(),
                "action": e.get_action_display(),
                "source": e.get_source_display(),
                "privacy_policy_version": e.policy_version.version if e.policy_version else "",
                "wording_sha256": e.wording_hash,
                "ip_address_truncated": e.ip_truncated or "",
                "detail": e.detail,
            }
            for e in ConsentEvent.objects.filter(subscriber=subscriber)
            .select_related("topic", "policy_version")
            .order_by("occurred_at", "pk")
        ],
        "suppressions": [
            {"scope": s.get_scope_display(), "reason": s.get_reason_display(), "since": _when(s.created_at)}
            for s in Suppression.objects.filter(address_hmac=address_hmac(subscriber.email))
        ],
        "requests": [
            {
                "kind": r.get_kind_display(),
                "received_on": r.received_on.isoformat(),
                "deadline": r.deadline.isoformat(),
                "status": r.get_status_display(),
            }
            for r in RightsRequest.objects.filter(subscriber=subscriber)
        ],
        "email_processing": [
            {
                "service": "Amazon Simple Email Service (sends our emails)",
                "region": settings.SES_REGION,
            }
        ],
    }
    return tables
