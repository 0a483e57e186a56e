"""Automations: their emails (Wagtail pages), their steps, each person's run and the ledger of what was sent.

Data and invariants only; every state change is in ``services.py``, the claiming and sending in ``worker.py``
(docs/automations.md).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from wagtail.models import Page

from campaigns.models import BounceType, DeliveryState, EmailPage
from campaigns.segments.models import Segment
from subscribers.models import Topic
from subscribers.models.attributes import Attribute, AttributeType

EVENT_NAME_RULE = RegexValidator(
    r"^[a-z][a-z0-9_.-]{0,99}$",
    "Use lower-case letters, digits, dots, dashes and underscores, starting with a letter.",
)


class AutomationEmailIndexPage(Page):
    """Holds the emails of every automation. Created by a migration; never served to the public."""

    subpage_types = ["automations.AutomationEmailPage"]
    parent_page_types = ["wagtailcore.Page"]
    max_count = 1

    class Meta:
        verbose_name = "automation emails"

    def serve(self, request, *args, **kwargs):
        raise Http404


class AutomationEmailPage(EmailPage):
    """One email of an automation: authored, previewed and checked like a campaign, sent by the automation's steps."""

    parent_page_types = ["automations.AutomationEmailIndexPage"]

    class Meta:
        verbose_name = "automation email"

    def email_topics(self) -> tuple[tuple[int, str], ...]:
        """The topics of the automations that send this email (normally one): the footer names them."""
        topics = Topic.objects.filter(automations__steps__email_id=self.pk).distinct().order_by("position", "name")
        return tuple((topic.pk, topic.name) for topic in topics)


class AutomationTrigger(models.TextChoices):
    TOPIC_CONFIRMED = "topic_confirmed", "A subscription to the topic is confirmed"
    DATE_ATTRIBUTE = "date_attribute", "A date attribute's day comes round"
    API_EVENT = "api_event", "An event sent through the API"


class AutomationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Automation(models.Model):
    """A trigger and ordered steps. People enter it when the trigger fires and walk its steps, each on a run."""

    name = models.CharField(max_length=100, unique=True)
    # The consent it mails under: every email step requires an active subscription to this topic, checked again at
    # the moment the step is taken. PROTECT: a topic an automation mails under cannot vanish under it.
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="automations")
    trigger = models.CharField(max_length=24, choices=AutomationTrigger.choices)
    trigger_attribute = models.ForeignKey(
        Attribute,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="automations",
        limit_choices_to={"type": AttributeType.DATE},
        help_text="For a date trigger: the date attribute whose day (month and day, every year) starts a run.",
    )
    trigger_offset_days = models.SmallIntegerField(
        default=0,
        validators=[MinValueValidator(-366), MaxValueValidator(366)],
        help_text="For a date trigger: days after the date (negative: before it).",
    )
    trigger_hour = models.PositiveSmallIntegerField(
        default=9,
        validators=[MaxValueValidator(23)],
        help_text="For a date trigger: the hour of the day, in the shop's time zone, at which people enter.",
    )
    trigger_event = models.CharField(
        max_length=100,
        blank=True,
        validators=[EVENT_NAME_RULE],
        help_text="For an API trigger: the event name the API receives, for example first_order.",
    )
    state = models.CharField(max_length=16, choices=AutomationState.choices, default=AutomationState.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_automations", "Can create, change, activate, pause and resume automations"),
            ("trigger_automations", "Can start automations with events (the API's automations:trigger)"),
        ]
        indexes = [models.Index(fields=["trigger", "state"], name="automation_trigger_state")]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        errors = {}
        if self.trigger == AutomationTrigger.DATE_ATTRIBUTE:
            if self.trigger_attribute_id is None:
                errors["trigger_attribute"] = "Choose the date attribute whose day starts a run."
            elif self.trigger_attribute.type != AttributeType.DATE:
                errors["trigger_attribute"] = "Choose an attribute of the date type."
        elif self.trigger_attribute_id is not None:
            errors["trigger_attribute"] = "Only a date trigger has an attribute."
        if self.trigger == AutomationTrigger.API_EVENT and not self.trigger_event:
            errors["trigger_event"] = "Give the event name the API will receive."
        elif self.trigger != AutomationTrigger.API_EVENT and self.trigger_event:
            errors["trigger_event"] = "Only an API trigger has an event name."
        if errors:
            raise ValidationError(errors)


class StepKind(models.TextChoices):
    WAIT = "wait", "Wait"
    EMAIL = "email", "Send an email"
    CONDITION = "condition", "Continue only if a segment matches"
    STOP = "stop", "Stop"


# The fields each kind of step uses; every other step field must be empty (AutomationStep.clean).
STEP_FIELDS = {
    StepKind.WAIT: {"wait_seconds", "wait_weekday", "wait_hour"},
    StepKind.EMAIL: {"email"},
    StepKind.CONDITION: {"segment"},
    StepKind.STOP: set(),
}
STEP_OPTIONAL_FIELDS = ("wait_seconds", "wait_weekday", "wait_hour", "email", "segment")


class AutomationStep(models.Model):
    """One step of an automation, at its position (1, 2, ...): wait, send an email, check a segment, or stop."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    wait_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Wait this long (in seconds) before the next step."
    )
    wait_weekday = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(6)],
        help_text="Or wait until the next such weekday (0 Monday to 6 Sunday) ...",
    )
    wait_hour = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(23)],
        help_text="... at this hour, in the shop's time zone.",
    )
    email = models.ForeignKey(
        AutomationEmailPage, null=True, blank=True, on_delete=models.PROTECT, related_name="steps"
    )
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="automation_steps",
        help_text="Continue only for the people this segment selects; the others leave the automation.",
    )

    class Meta:
        ordering = ["automation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["automation", "position"], name="one_automation_step_per_position")
        ]

    def __str__(self):
        return f"Step {self.position} of {self.automation}: {self.get_kind_display()}"

    def clean(self):
        super().clean()
        allowed = STEP_FIELDS.get(self.kind, set())
        errors = {}
        for field in STEP_OPTIONAL_FIELDS:
            value = getattr(self, f"{field}_id" if field in ("email", "segment") else field)
            if field not in allowed and value is not None:
                errors[field] = f"A step of the kind “{self.get_kind_display()}” has no {field.replace('_', ' ')}."
        if self.kind == StepKind.WAIT:
            by_duration = self.wait_seconds is not None
            by_weekday = self.wait_weekday is not None or self.wait_hour is not None
            if by_duration == by_weekday:
                errors["wait_seconds"] = "Give either a duration, or a weekday and an hour."
            elif by_weekday and (self.wait_weekday is None or self.wait_hour is None):
                errors["wait_weekday"] = "Give both the weekday and the hour."
            elif by_duration and self.wait_seconds <= 0:
                errors["wait_seconds"] = "Wait at least one second."
        elif self.kind == StepKind.EMAIL and self.email_id is None:
            errors["email"] = "Choose the email this step sends."
        elif self.kind == StepKind.CONDITION and self.segment_id is None:
            errors["segment"] = "Choose the segment people must match to continue."
        if errors:
            raise ValidationError(errors)


class RunState(models.TextChoices):
    ACTIVE = "active", "In the automation"
    FINISHED = "finished", "Finished"
    LEFT = "left", "Left"


class LeftReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "No longer subscribed to the topic"
    SUPPRESSED = "suppressed", "Address suppressed"
    ERASED = "erased", "Erased"
    SEGMENT = "segment", "Did not match the segment of a condition"
    DATE_CHANGED = "date_changed", "The date that started it was removed or changed"
    STOPPED = "stopped", "Stopped by staff"
    FAILED = "failed", "An email could not be sent"


class AutomationRun(models.Model):
    """One person's way through one automation, for one occurrence of its trigger.

    ``occurrence`` makes entering idempotent: "" for a once-only trigger (a welcome series), the year for a date
    that comes round every year, the API's event key for an event. A person enters once per occurrence.
    """

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="runs", db_index=False)
    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="automation_runs")
    position = models.PositiveSmallIntegerField(default=1, help_text="The step the run is at (next to take).")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.ACTIVE)
    due_at = models.DateTimeField(help_text="When the step at ``position`` is to be taken.")
    occurrence = models.CharField(max_length=64, blank=True, default="")
    left_reason = models.CharField(max_length=32, blank=True, default="", choices=LeftReason.choices)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "subscriber", "occurrence"], name="one_automation_run_per_occurrence"
            )
        ]
        indexes = [
            # Beat's "anything due?" and the worker's claim: an index of the active runs alone, in due order.
            models.Index(fields=["due_at", "id"], name="automation_run_due", condition=Q(state="active")),
            # How many people are at each step of an automation (its page).
            models.Index(fields=["automation", "state", "position"], name="automation_run_position"),
        ]

    def __str__(self):
        return f"Run {self.pk} of {self.automation_id} ({self.get_state_display()})"


class AutomationDelivery(models.Model):
    """The ledger of automations: one row per run and email step. It, not Celery, is the truth of what was sent.

    States as campaigns' ``Delivery``: a row found sent is never sent again, and a row found claimed with
    ``attempted_at`` set (its worker died during the SES call) becomes ``unknown`` and is never sent again either.
    """

    # SET_NULL, as the subscriber: an erasure deletes the person's runs, and the rows stay, without anyone, in the
    # email's aggregate results. No index of its own: the unique constraint leads with the run.
    run = models.ForeignKey(
        AutomationRun, null=True, on_delete=models.SET_NULL, related_name="deliveries", db_index=False
    )
    step = models.ForeignKey(AutomationStep, on_delete=models.PROTECT, related_name="deliveries")
    # The row keeps its email (and the step, so its automation) of its own, for results after the run is gone.
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", null=True, on_delete=models.SET_NULL, related_name="automation_deliveries"
    )
    # No index of its own: the results index leads with the email (each row's versions go into every index, and
    # a row has three: made, marked, answered).
    email = models.ForeignKey(
        AutomationEmailPage, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    revision = models.ForeignKey(
        "wagtailcore.Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    attempted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set just before the SES call: a lost worker's row is then in doubt."
    )
    ses_message_id = models.CharField(max_length=100, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounce_type = models.CharField(max_length=16, blank=True, default="", choices=BounceType.choices)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="one_automation_delivery_per_step")]
        indexes = [
            models.Index(
                fields=["ses_message_id"], name="automation_delivery_ses_id", condition=~Q(ses_message_id="")
            ),
            models.Index(fields=["email", "state"], name="automation_delivery_results"),
        ]

    def __str__(self):
        return f"Automation delivery {self.pk} ({self.get_state_display()})"
