"""What the Newsletter Subscription page and the preference centre share."""

from ..models import Subscriber, SubscriptionStatus, Topic
from ..selectors import subscriptions_for_subscriber, third_party_objection_exists
from ..services import PreferencesOutcome


def preferences_initial(subscriber: Subscriber, topics: list[Topic]) -> dict:
    """Boxes ticked for active and pending topics (pending ones are labelled as awaiting confirmation)."""
    current = subscriptions_for_subscriber(subscriber=subscriber)
    initial = {
        f"topic_{t.pk}": current.get(t.pk) is not None
        and current[t.pk].status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        for t in topics
    }
    initial["third_party_objection"] = third_party_objection_exists(email=subscriber.email)
    return initial


def preferences_message(outcome: PreferencesOutcome, subscriber: Subscriber) -> str:
    if not outcome.changed:
        return "Your preferences are saved. Nothing needed changing."
    parts = ["Your preferences are saved."]
    if outcome.withdrawn:
        parts.append("You will no longer receive: " + ", ".join(t.name for t in outcome.withdrawn) + ".")
    if outcome.given:
        parts.append("You are now subscribed to: " + ", ".join(t.name for t in outcome.given) + ".")
    if outcome.confirmation_sent:
        parts.append(
            f"We have emailed {subscriber.email} a link to confirm: "
            + ", ".join(t.name for t in outcome.confirmation_sent)
            + "."
        )
    return " ".join(parts)
