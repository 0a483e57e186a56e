"""The subscribers domain's exceptions. Services raise them; views turn them into messages."""


class SubscriptionError(Exception):
    """Base class for refusals by the subscription services."""


class SuppressedAddressError(SubscriptionError):
    """The address is on the suppression list, and this path may not add it back."""


class ConfirmationLinkUsed(SubscriptionError):
    """The confirmation link was already used, or a newer one replaced it."""


class ExplicitRequestRequired(SubscriptionError):
    """The address was suppressed after a complaint or an erasure: a confirmed click is not enough."""


class AccountError(Exception):
    """Base class for refusals by the account services."""


class EmailInUseError(AccountError):
    """Another account (or a subscriber without an account) already uses that address."""


class EmailChangeLinkUsed(AccountError):
    """The email-change link was already used."""
