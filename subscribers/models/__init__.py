"""Data and invariants only: state changes live in ``services``, reads in ``selectors``.

``core``: customers, subscribers, topics, subscriptions, the consent ledger, suppression.
``rights``: requests to exercise a data-protection right, copies of data prepared, and the log of erasures.
``imports``: CSV imports of subscribers started in the admin.
"""

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
from .imports import SubscriberImport, SubscriberImportStatus
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
    "ConsentAction",
    "ConsentEvent",
    "ConsentEventQuerySet",
    "ConsentPurpose",
    "ConsentSource",
    "CustomerProfile",
    "DetailsChange",
    "EmailChangeRequest",
    "ErasureRecord",
    "ErasureSource",
    "LawfulBasis",
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
