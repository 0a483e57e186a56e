"""The trigger "a subscription to the topic is confirmed", heard through ``subscribers.outbound``: subscribers never
imports automations, so this listener is registered there when the app starts. It runs inside the transaction of
the confirmation, so a confirmation that rolls back enters no one."""

from automations.services import topic_confirmed_enter

HEARD = "subscription.confirmed"


def subscription_event_heard(type: str) -> bool:
    """Only confirmations start automations (``subscribers.outbound``'s ``listens``): a withdrawal is seen by each
    run when it next checks consent, not heard here."""
    return type == HEARD


def subscription_event_hear(*, type: str, data: dict, subscriber=None, ordering_key=None) -> None:
    """``subscription.confirmed``: enter the person in every automation started by confirming that topic."""
    if type != HEARD or subscriber is None or not data.get("topic"):
        return
    topic_confirmed_enter(subscriber=subscriber, topic_slug=data["topic"])
