"""What the Newsletter Subscription page and the preference centre share."""

from ..forms import PreferencesForm
from ..models import ConsentSource, Subscriber, SubscriptionStatus, Topic
from ..selectors import subscriptions_for_subscriber, third_party_objection_exists
from ..services import PreferencesOutcome, preferences_save
from ..wording import TOPIC_TICKBOX
from .helpers import client_ip


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
    kept = (
        " Your objection to sharing stays in place until you confirm your email address from one of our emails."
        if outcome.objection_kept
        else ""
    )
    if not outcome.changed:
        return "Your preferences are saved. Nothing needed changing." + kept
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
    return " ".join(parts) + kept


def preferences_form_save(
    request, *, form: PreferencesForm, subscriber: Subscriber, topics: list[Topic], source: ConsentSource
) -> str:
    """Apply a valid Newsletter Subscription form and return the message describing what changed."""
    outcome = preferences_save(
        subscriber=subscriber,
        offered_topics=topics,
        wanted_topics=form.wanted_topics(),
        third_party_objection=form.cleaned_data["third_party_objection"],
        source=source,
        wording=TOPIC_TICKBOX,
        ip=client_ip(request),
    )
    return preferences_message(outcome, subscriber)
