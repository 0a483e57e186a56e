"""Services: every state change in the subscribers domain. Import from here."""

from .accounts import (
    RegistrationDetails,
    account_email_verify_request,
    account_register,
    email_change_confirm,
    email_change_pending_for_token,
    email_change_request,
    profile_update,
)
from .errors import (
    AccountError,
    ConfirmationLinkUsed,
    EmailChangeLinkUsed,
    EmailInUseError,
    ExplicitRequestRequired,
    SubscriptionError,
    SuppressedAddressError,
)
from .feedback import address_bounced, address_complained
from .subscriptions import (
    PreferencesOutcome,
    confirmation_pending_for_token,
    confirmation_resend,
    preferences_save,
    public_signup,
    subscriber_get_or_create,
    subscriber_withdraw_all,
    subscription_confirm,
    subscription_give,
    subscription_request,
    subscription_withdraw,
    third_party_objection_set,
)
from .suppression import suppression_add, suppression_lift

__all__ = [
    "AccountError",
    "ConfirmationLinkUsed",
    "EmailChangeLinkUsed",
    "EmailInUseError",
    "ExplicitRequestRequired",
    "PreferencesOutcome",
    "RegistrationDetails",
    "SubscriptionError",
    "SuppressedAddressError",
    "account_email_verify_request",
    "account_register",
    "address_bounced",
    "address_complained",
    "confirmation_pending_for_token",
    "confirmation_resend",
    "email_change_confirm",
    "email_change_pending_for_token",
    "email_change_request",
    "preferences_save",
    "profile_update",
    "public_signup",
    "subscriber_get_or_create",
    "subscriber_withdraw_all",
    "subscription_confirm",
    "subscription_give",
    "subscription_request",
    "subscription_withdraw",
    "suppression_add",
    "suppression_lift",
    "third_party_objection_set",
]
