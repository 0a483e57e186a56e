"""Staff actions in Wagtail's audit log (Reports > Site history), each under a registered action type.

``ActionLog`` is the mechanism both apps use: a table of action types (its label in the report's filter, the
sentence an entry shows) and ``write``, which an action calls inside the transaction of its change, so that the
entry and the change stand or fall together. ``SUBSCRIBER_LOG`` is this app's table: the imports, the exports to
partners and for a sale of the business, erasures by staff and policy publication.

Only people are logged. An action the platform takes by itself (``user`` None) has no one to name, and a
customer's own erasure is not logged either: the account it would name is the one being erased. What is logged
never names the person an action was about: an erasure's entry gives the counts of what was removed, never who.
"""

from wagtail.log_actions import log


class ActionLog:
    """One app's action types: ``{action: (label in the report's filter, the sentence an entry shows)}``."""

    def __init__(self, actions: dict[str, tuple[str, str]]):
        self.actions = actions

    def write(self, *, instance, action: str, user, data: dict | None = None, title: str | None = None) -> None:
        """Record ``user``'s ``action`` on ``instance`` (``title`` names it in the log when its own name would
        change). Nothing when ``user`` is None: the platform's own actions are told by their own histories."""
        if action not in self.actions:
            raise ValueError(f"Unregistered log action: {action}")
        if user is None:
            return
        log(instance=instance, action=action, user=user, data=data or {}, title=title)

    def register(self, registry, *, except_for: tuple[str, ...] = ()) -> None:
        """For the ``register_log_actions`` hook: every action type with its label and sentence, but those in
        ``except_for`` (registered with a formatter of their own)."""
        for action, (label, message) in self.actions.items():
            if action not in except_for:
                registry.register_action(action, label, message)


POLICY_PUBLISH = "subscribers.privacy_policy_publish"

SUBSCRIBER_LOG = ActionLog(
    {
        "subscribers.import_dry_run": ("Check an import (dry run)", "Checked a subscriber import (dry run)"),
        "subscribers.import_start": ("Import subscribers", "Started importing subscribers"),
        "subscribers.partner_export": ("Export to a partner", "Exported subscribers' details to a partner"),
        "subscribers.business_transfer_export": (
            "Export for a sale of the business",
            "Exported every subscriber's data for a sale of the business",
        ),
        "subscribers.erase": ("Erase a person", "Erased a person's data at their request"),
        # Changes made on a person's behalf by another system (services/consent.py; the API's key as the actor).
        "subscribers.signup_request": ("Ask a subscriber to confirm", "Asked a subscriber to confirm topics by email"),
        "subscribers.evidence_add": ("Subscribe with evidence", "Subscribed someone on evidence of consent"),
        "subscribers.details_update": ("Correct a subscriber's details", "Corrected a subscriber's details"),
        "subscribers.topics_set": ("Change a subscriber's topics", "Changed a subscriber's topics"),
        "subscribers.unsubscribe_all": ("Unsubscribe from everything", "Unsubscribed someone from all email"),
        "subscribers.objection_set": ("Record an objection to sharing", "Changed an objection to sharing"),
        "subscribers.access_export_request": ("Send a copy of their data", "Asked for a copy of someone's data"),
        # Attributes (services/attributes.py): the key and what changed, never a person's value.
        "subscribers.attribute_declare": ("Declare an attribute", "Declared a subscriber attribute"),
        "subscribers.attribute_update": ("Change an attribute", "Changed a subscriber attribute"),
        "subscribers.attribute_delete": ("Delete an attribute", "Deleted a subscriber attribute and its values"),
        "subscribers.attributes_set": ("Set a subscriber's attributes", "Changed a subscriber's attribute values"),
        # Shown by ``PolicyPublishLogFormatter`` (the version and when it takes effect).
        POLICY_PUBLISH: ("Publish privacy policy version", "Published a privacy policy version"),
    }
)
