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


def _sharing_sentence(outcome: PreferencesOutcome) -> str:
    """What the saved choice about sharing with third parties now is, when there is something to say."""
    if outcome.objection_kept:
        return "Your objection to sharing stays in place until you confirm your email address from one of our emails."
    if outcome.objection_in_force:
        if outcome.third_party_changed:
            return "Your objection to sharing is recorded: we will not share your details with third parties."
        return "Your objection to sharing stays in place: we do not share your details with third parties."
    if outcome.third_party_changed:
        return "You no longer object to sharing your details with carefully selected third parties."
    return ""


def preferences_message(outcome: PreferencesOutcome, subscriber: Subscriber) -> str:
    """The banner after saving: what changed about topics, then where sharing with third parties stands."""
    parts = ["Your preferences are saved."]
    if not outcome.changed:
        parts.append("Nothing needed changing.")
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
    parts.append(_sharing_sentence(outcome))
    return " ".join(filter(None, parts))


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
