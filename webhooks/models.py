"""The webhook ledger: endpoints (where to post, what, under which secret), events (what happened, once), one
delivery row per event and endpoint (its state and retry schedule), and every attempt with the answer it got.

The rows are the truth; Celery messages only wake workers up (``webhooks.delivery``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from subscribers.models import Disclosure, Partner, Subscriber
from subscribers.publicids import public_id_new

# The events an endpoint may ask for, with what each means in a few words (the admin's checkboxes, docs/webhooks.md).
EVENT_TYPES = {
    "subscriber.created": "A new subscriber (someone signed up or was added for the first time)",
    "subscription.confirmed": "An opt-in to a topic was confirmed",
    "subscription.withdrawn": "Someone unsubscribed from a topic",
    "subscriber.erased": "A person's data was erased at their request",
    "suppression.added": "An address was suppressed (unsubscribe from everything, bounce, complaint, objection)",
    "send.started": "A campaign send started",
    "send.paused": "A campaign send was paused",
    "send.finished": "A campaign send finished",
    "delivery.bounced": "A campaign email bounced",
    "delivery.complained": "A recipient marked a campaign email as spam",
}


def message_id_new() -> str:
    """The public id of an event, sent as ``webhook-id``: time-ordered, unguessable (publicids)."""
    return f"msg_{public_id_new().hex}"


class WebhookEndpoint(models.Model):
    """A URL in someone else's system that wants some of our events, signed with its secret."""

    name = models.CharField(max_length=150)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="The event types it receives.")
    enabled = models.BooleanField(default=True)
    is_partner = models.BooleanField(
        default=False,
        help_text="A partner's system: a disclosure. It never receives events about people who objected to sharing.",
    )
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    include_personal_data = models.BooleanField(
        default=False, help_text="Add the address and first name to events about a person. Off: public ids only."
    )
    # In the Standard Webhooks form ("whsec_" and base64). The signing key itself, so it is kept as it is, not hashed.
    secret = models.CharField(max_length=100)
    # During a rotation the previous secret signs too, until it expires, so receivers can switch at their pace.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # When its deliveries began to fail, with no success since; None while it answers.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        permissions = [("manage_webhooks", "Can manage webhook endpoints and send deliveries again")]

    def __str__(self):
        return self.name


class WebhookEvent(models.Model):
    """Something that happened, once, whoever receives it. ``data`` is thin (public ids); ``personal`` holds the
    address and first name for the endpoints that ask for them, and is emptied when the person is erased."""

    message_id = models.CharField(max_length=40, unique=True, default=message_id_new, editable=False)
    type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)
    personal = models.JSONField(default=dict, blank=True)
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The keyed HMAC of the person's address (addresses.address_hmac), to check just before sending to a partner that
    # they have not objected since; kept after an erasure, like the suppression list keeps it.
    address_hmac = models.CharField(max_length=64, blank=True)
    # Deliveries with the same key to the same endpoint go in event order: the subscriber's public id, or "send:<id>".
    ordering_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["subscriber"], condition=Q(subscriber__isnull=False), name="webhook_event_person")
        ]

    def __str__(self):
        return f"{self.type} {self.message_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"
    SKIPPED = "skipped", "Skipped"


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until an attempt succeeds, the retries run out, or it is skipped."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    ordering_key = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    reason = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # How many attempts it may have in all: None, the retry schedule's; "Send again" allows one more.
    attempts_allowed = models.PositiveSmallIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Held by a worker for its attempt; a worker lost mid-attempt leaves it to expire, and the delivery is tried again.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The disclosure log's entry, for a partner delivery that carried personal data (written once, at its first try).
    disclosure = models.ForeignKey(Disclosure, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="one_webhook_delivery_per_endpoint")]
        indexes = [
            # The ordering rule: is an earlier delivery with the same key to the same endpoint still waiting?
            models.Index(
                fields=["endpoint", "ordering_key", "event"],
                condition=Q(state="pending"),
                name="webhook_delivery_waiting",
            ),
            models.Index(fields=["endpoint", "state", "-event"], name="webhook_delivery_by_endpoint"),
        ]

    def __str__(self):
        return f"{self.event} to {self.endpoint}"

    @property
    def is_final(self) -> bool:
        return self.state != DeliveryState.PENDING


class WebhookAttempt(models.Model):
    """One POST of a delivery and what came back: an HTTP status, or the error that stood in for one."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    # The first KB of the answer, as text: enough to see what the receiver said, never a whole page.
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"Attempt at {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
