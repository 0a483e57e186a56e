"""The subscribers domain's exceptions. Services raise them; views turn them into messages."""

from subscribers.errors import FormFieldError, SubscribersError

__all__ = ["FormFieldError", "SubscribersError"]  # re-exported: FormFieldError lives beside the base class


class SubscriptionError(SubscribersError):
    """Base class for refusals by the subscription services."""


class SuppressedAddressError(SubscriptionError):
    """The address is on the suppression list, and this path may not add it back."""


class ConfirmationLinkUsed(SubscriptionError):
    """The confirmation link was already used, or a newer one replaced it."""


class ExplicitRequestRequired(SubscriptionError):
    """The address was suppressed after a complaint or an erasure: a confirmed click is not enough."""


class AccountError(SubscribersError):
    """Base class for refusals by the account services."""


class EmailInUseError(AccountError):
    """Another account (or a subscriber without an account) already uses that address."""


class EmailChangeLinkUsed(AccountError):
    """The email-change link was already used."""


class RightsRequestError(FormFieldError):
    """A request to exercise a data-protection right cannot be recorded or closed as asked."""


class AccessExportError(SubscribersError):
    """A copy of someone's data cannot be prepared or downloaded; the message says why."""


class DisclosureError(FormFieldError):
    """Personal data cannot be handed over as asked; nothing was disclosed or logged."""


class DisclosureRepeated(DisclosureError):
    """The same confirmation form was sent twice: the first sending made ``disclosure``; nothing more was made."""

    def __init__(self, message: str, *, disclosure):
        super().__init__(message)
        self.disclosure = disclosure


class PolicyVersionError(FormFieldError):
    """A privacy policy version cannot be published, or acknowledged, as asked."""


class SubscriberImportError(SubscribersError):
    """Base class for refusals by the CSV import."""


class ImportFileRefused(SubscriberImportError):
    """The whole file cannot be imported (encoding, header, a line too long, empty, too big): nothing was written.

    ``line`` is the file's line number the problem was found on, when there is one.
    """

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line


class ImportMappingError(SubscriberImportError):
    """The column mapping or the whole-file options cannot be used (a column not in the file, no email column)."""


class ImportInterrupted(SubscriberImportError):
    """Something the import's rows refer to (a topic, a privacy policy version, a subscriber) was deleted while it
    ran, so it was rolled back whole: nothing was written, and running it again decides afresh."""
