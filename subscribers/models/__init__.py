"""Data and invariants only: state changes live in ``services``, reads in ``selectors``.

``core``: customers, subscribers, topics, subscriptions, the consent ledger, suppression.
``rights``: requests to exercise a data-protection right, copies of data prepared, and the log of erasures.
``disclosures``: partners we may share details with, and the log of every disclosure to another organisation.
``policies``: who acknowledged which privacy policy version.
``imports``: CSV imports of subscribers started in the admin.
``attributes``: what staff declare about subscribers (country, last order) and each person's values.
"""

from .attributes import Attribute, AttributeType, AttributeValue
from .core import (
    ConsentAction,
    ConsentEvent,
    ConsentEventQuerySet,
    ConsentPurpose,
    ConsentSource,
    CustomerProfile,
    DetailsChange,
    EmailChangeRequest,
    LawfulBasis,
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
    User,
    UserManager,
)
from .disclosures import Disclosure, DisclosureKind, DisclosureRecipient, Partner
from .imports import SubscriberImport, SubscriberImportStatus
from .policies import PolicyAcknowledgement
from .rights import (
    AccessExport,
    ErasureRecord,
    ErasureSource,
    RightsRequest,
    RightsRequestChannel,
    RightsRequestKind,
    RightsRequestStatus,
)

__all__ = [
    "AccessExport",
    "Attribute",
    "AttributeType",
    "AttributeValue",
    "ConsentAction",
    "ConsentEvent",
    "ConsentEventQuerySet",
    "ConsentPurpose",
    "ConsentSource",
    "CustomerProfile",
    "DetailsChange",
    "Disclosure",
    "DisclosureKind",
    "DisclosureRecipient",
    "EmailChangeRequest",
    "ErasureRecord",
    "ErasureSource",
    "LawfulBasis",
    "Partner",
    "PolicyAcknowledgement",
    "PrivacyPolicyVersion",
    "RightsRequest",
    "RightsRequestChannel",
    "RightsRequestKind",
    "RightsRequestStatus",
    "Subscriber",
    "SubscriberImport",
    "SubscriberImportStatus",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
    "SuppressionScope",
    "Topic",
    "User",
    "UserManager",
]
