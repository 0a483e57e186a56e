"""Campaign pages (content, authored in Wagtail) and the brand's email settings. Data and invariants only."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from modelcluster.fields import ParentalManyToManyField
from wagtail.admin.forms import WagtailAdminPageForm
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting
from wagtail.fields import StreamField
from wagtail.models import Page

from campaigns.authoring.blocks import CampaignBodyBlock
from campaigns.authoring.merge import merge_fields_validate
from campaigns.segments.models import Segment  # a model of this app, in a module of its own
from subscribers.models import Topic

COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour as # and six hex digits, for example #7a5c1e.")
SUBJECT_MAX = 150


def sender_choices() -> list[tuple[str, str]]:
    """The verified sender identities an author may choose from (settings.CAMPAIGN_SENDERS)."""
    return [(s, s) for s in settings.CAMPAIGN_SENDERS]


@register_setting(icon="mail")
class BrandSettings(BaseGenericSetting):
    """How every email looks and signs off: name, logo, colours, postal address, default sender."""

    brand_name = models.CharField(max_length=100, default="Larkspur & Lune")
    logo = models.ForeignKey("wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    accent_colour = models.CharField(max_length=7, default="#7a5c1e", validators=[COLOUR])
    text_colour = models.CharField(max_length=7, default="#2b2520", validators=[COLOUR])
    background_colour = models.CharField(max_length=7, default="#f6f3ee", validators=[COLOUR])
    postal_address = models.CharField(
        max_length=255,
        default="12 Assay Lane, Birmingham B18 6AA, United Kingdom",
        help_text="Shown in the footer of every email, as the law on marketing email requires.",
    )
    default_sender = models.CharField(max_length=254, blank=True, help_text="Chosen for new campaigns.")

    panels = [
        FieldPanel("brand_name"),
        FieldPanel("logo"),
        MultiFieldPanel(
            [FieldPanel("accent_colour"), FieldPanel("text_colour"), FieldPanel("background_colour")], heading="Colours"
        ),
        FieldPanel("postal_address"),
        FieldPanel("default_sender", widget=forms.Select(choices=sender_choices)),
    ]

    class Meta:
        verbose_name = "Email brand"


class CampaignIndexPage(Page):
    """Holds the campaigns. Never served to the public."""

    subpage_types = ["campaigns.CampaignPage"]
    max_count = 1

    def serve(self, request, *args, **kwargs):
        raise Http404


class CampaignPageForm(WagtailAdminPageForm):
    """Offers only the verified sender identities, and the brand's default for a new email (campaign or other)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sender" in self.fields:
            self.fields["sender"].widget = forms.Select(choices=sender_choices())
            if not self.instance.pk and not self.initial.get("sender"):
                brand = BrandSettings.load()
                self.initial["sender"] = brand.default_sender or settings.DEFAULT_FROM_EMAIL
        if "topics" in self.fields and not self.instance.pk and not self.initial.get("topics"):
            self.initial["topics"] = list(Topic.objects.filter(is_default=True).values_list("pk", flat=True))


class EmailPage(Page):
    """What every email authored in Wagtail has: the envelope, the body of campaign blocks, tracking, checks, preview.

    Abstract: a campaign (sent once to an audience) and an automation's email (sent to each person whose run reaches
    it) are both one of these, rendered, checked and previewed by the same code.
    """

    subject = models.CharField(max_length=250, help_text="Up to 150 characters. Merge fields allowed.")
    preheader = models.CharField(
        max_length=200, blank=True, help_text="The grey line after the subject in an inbox. Merge fields allowed."
    )
    sender = models.CharField(max_length=254, help_text="A verified sender identity.")
    reply_to = models.EmailField(blank=True)
    body = StreamField(CampaignBodyBlock(), use_json_field=True)
    plain_text_override = models.TextField(
        blank=True,
        help_text="Leave empty to generate the plain-text part from the content. The footer is always added.",
    )
    track_clicks = models.BooleanField(
        default=True,
        help_text=(
            "Count clicks on each link, and how many recipients clicked (each once; never which link they chose): "
            "links go through this site, which redirects them."
        ),
    )
    track_opens = models.BooleanField(
        default=False,
        help_text=(
            "Count opens with an invisible image (a total for the send, never per person). Off by default: Apple "
            "Mail Privacy Protection loads every image of every message, and mail scanners load them too, so the "
            "count runs high and says how often the image was fetched, not how many people read the email."
        ),
    )

    base_form_class = CampaignPageForm
    subpage_types: list[str] = []

    envelope_panels = [FieldPanel("subject"), FieldPanel("preheader"), FieldPanel("sender"), FieldPanel("reply_to")]
    content_panels = [
        *Page.content_panels,
        MultiFieldPanel(envelope_panels, heading="Envelope"),
        FieldPanel("body"),
        FieldPanel("plain_text_override"),
        MultiFieldPanel([FieldPanel("track_clicks"), FieldPanel("track_opens")], heading="Tracking"),
    ]

    # The width is Wagtail's own preview sizes (mobile, tablet, desktop); the modes are what to look at.
    preview_modes = [("email", "Email"), ("text", "Plain text"), ("checks", "Checklist")]
    default_preview_mode = "email"

    class Meta:
        abstract = True

    def clean(self):
        super().clean()
        errors = {}
        if any(ch in self.subject for ch in "\r\n"):
            errors["subject"] = ValidationError("The subject cannot contain a line break.", code="line_break")
        for field in ("subject", "preheader", "plain_text_override"):
            try:
                merge_fields_validate(getattr(self, field), field=self._meta.get_field(field).verbose_name)
            except ValidationError as err:
                errors.setdefault(field, err)
        try:
            merge_fields_validate(self.body_source_text(), field="the body")
        except ValidationError as err:
            errors["body"] = err
        if self.sender and self.sender not in settings.CAMPAIGN_SENDERS:
            errors["sender"] = ValidationError("Choose one of the verified sender identities.", code="sender")
        if errors:
            raise ValidationError(errors)

    def body_source_text(self) -> str:
        """Every text value in the body, for merge-field validation."""
        return "\n".join(_texts(list(self.body.raw_data)))

    def email_topics(self) -> tuple[tuple[int, str], ...]:
        """The topics this email goes out under, as (id, name) in their listed order: its footer names them.

        Overridden by each kind of email page; none here (the footer then says "our emails")."""
        return ()

    def serve(self, request, *args, **kwargs):
        # Emails are read in inboxes (and at /email/<token>/), never as public pages.
        raise Http404

    def serve_preview(self, request, mode_name):
        from campaigns.authoring.preview import campaign_preview_response

        return campaign_preview_response(request, page=self, mode=mode_name)


class CampaignPage(EmailPage):
    """One campaign: what it says, who it is from, which topics it goes to."""

    topics = ParentalManyToManyField("subscribers.Topic", related_name="campaigns", blank=False)
    # Narrows the audience to the people the segment selects (docs/segments.md); consent and suppression still
    # apply after it. PROTECT: a segment a campaign relies on cannot vanish under it.
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="Optional: only the people on these topics whom the segment selects. Empty: everyone on the topics.",
    )

    parent_page_types = ["campaigns.CampaignIndexPage"]

    content_panels = [
        *Page.content_panels,
        MultiFieldPanel(
            [
                *EmailPage.envelope_panels,
                FieldPanel("topics", widget=forms.CheckboxSelectMultiple),
                FieldPanel("segment"),
            ],
            heading="Envelope",
        ),
        FieldPanel("body"),
        FieldPanel("plain_text_override"),
        MultiFieldPanel([FieldPanel("track_clicks"), FieldPanel("track_opens")], heading="Tracking"),
    ]

    class Meta:
        verbose_name = "campaign"

    def email_topics(self) -> tuple[tuple[int, str], ...]:
        return tuple((topic.pk, topic.name) for topic in self.topics.all())


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


class SendState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


class Send(models.Model):
    """One send of a campaign: the render that goes out, frozen, and the state of the whole send."""

    page = models.ForeignKey(CampaignPage, on_delete=models.PROTECT, related_name="sends")
    revision = models.ForeignKey("wagtailcore.Revision", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=SendState.choices, default=SendState.DRAFT)
    pause_reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Rows in the delivery ledger (the audience snapshot).")
    opens = models.PositiveIntegerField(default=0, help_text="Loads of the open-tracking image, when it was on.")
    # A large audience is written in chunks after the send starts: until the last one, the send cannot finish.
    audience_complete = models.BooleanField(default=True)
    audience_cursor = models.BigIntegerField(default=0, help_text="The last subscriber id the snapshot has covered.")
    # The render, stored once at the start so every recipient gets the same email (and "view in browser"
    # can show it later), whatever happens to the page afterwards.
    subject_source = models.TextField(blank=True)
    html_source = models.TextField(blank=True)
    text_source = models.TextField(blank=True)
    sender = models.CharField(max_length=254, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    # The segment as it was when the send started, frozen: editing or deleting the segment later changes neither a
    # running send's remaining chunks nor what a finished send says it went to.
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="sends")
    segment_name = models.CharField(max_length=100, blank=True)
    segment_definition = models.JSONField(null=True, blank=True, help_text="A copy of the definition, at the start.")
    # The ledger's rows by state, kept once the send has ended and no row is open (campaigns.sending.counts): over a
    # million rows a count takes a second, and listings show many sends. ``ledger_version`` moves with every change
    # to the rows of an ended send (an SES event settling a row in doubt, a resend), which drops the kept counts.
    state_counts = models.JSONField(null=True, blank=True, editable=False)
    ledger_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]
        # Checked with the right to publish the page (``campaigns.permissions.may_send``).
        permissions = [("send_campaign", "Can send, schedule, pause, resume and cancel campaign sends")]

    def __str__(self):
        return f"{self.page.title}: {self.get_state_display()}"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "Queued"
    CLAIMED = "claimed", "Claimed by a worker"
    SENT = "sent", "Accepted by SES"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    UNKNOWN = "unknown", "Unknown (worker lost mid-send)"


class BounceType(models.TextChoices):
    PERMANENT = "permanent", "Hard bounce"
    TRANSIENT = "transient", "Soft bounce"
    UNDETERMINED = "undetermined", "Bounce of undetermined type"


class Delivery(models.Model):
    """The ledger: one row per recipient of a send. It, not Celery, is the truth about what was sent."""

    # No index of its own: the unique constraint and the claim index both start with the send.
    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    # No foreign-key constraints in the database for the recipient: the snapshot takes both ids from the rows
    # it joins, and PostgreSQL's per-row constraint checks (each locking the subscriber and subscription rows)
    # took longer than the snapshot itself. Django still applies SET_NULL when a subscriber is deleted.
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", null=True, on_delete=models.SET_NULL, related_name="deliveries", db_constraint=False
    )
    subscription = models.ForeignKey(
        "subscribers.Subscription",
        null=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_constraint=False,
    )
    # Database defaults, because the audience snapshot inserts rows with INSERT ... SELECT.
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED, db_default=DeliveryState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Backoff: not claimed before this time.")
    claimed_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set just before the SES call: a lost worker's row is then in doubt."
    )
    ses_message_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    reason = models.CharField(max_length=255, blank=True, default="", db_default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    # What SES told us afterwards (its events, through SNS).
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounce_type = models.CharField(max_length=16, blank=True, default="", db_default="", choices=BounceType.choices)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    # That the recipient followed one of the email's tracked links, at least once: when first, never which link
    # (link counts stay per link, on TrackedLink). Behind the report's "clicked by unique recipients" rate only.
    clicked_at = models.DateTimeField(null=True, blank=True)
    resent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When staff sent it again after it stayed in doubt: offered only once.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["send", "subscriber"], name="one_delivery_per_recipient")]
        indexes = [
            models.Index(fields=["send", "state", "id"]),
            # SES events name the message; most carry our delivery tag, the rest are found by SES's id.
            models.Index(fields=["ses_message_id"], name="delivery_ses_message_id", condition=~Q(ses_message_id="")),
        ]

    def __str__(self):
        return f"Delivery {self.pk} ({self.get_state_display()})"


class SendAction(models.TextChoices):
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    CANCELLED = "cancelled", "Cancelled"
    UNCONFIRMED_RESENT = "unconfirmed_resent", "Sent again to recipients SES never confirmed"


class SendEvent(models.Model):
    """What happened to a send and who did it: an append-only log, shown as the send's history."""

    # No index of its own: the (send, created_at) index starts with it.
    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=32, choices=SendAction.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rows = models.PositiveIntegerField(default=0, help_text="Delivery rows the action changed.")
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["send", "created_at", "pk"]
        indexes = [models.Index(fields=["send", "created_at"], name="send_event_history")]

    def __str__(self):
        return f"{self.get_action_display()} (send {self.send_id})"


class TrackedLink(models.Model):
    """A link of one send, rewritten to go through ``/c/<token>/``: the only place that redirect may go.

    Counts clicks on the link, never who clicked.
    """

    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="links")
    position = models.PositiveSmallIntegerField(help_text="Order of first appearance in the email, from 1.")
    url = models.URLField(max_length=2000)
    clicks = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["send", "position"], name="one_link_per_position")]
        ordering = ["send", "position"]

    def __str__(self):
        return f"Link {self.position} of send {self.send_id}"


class FeedbackEvent(models.Model):
    """One verified SES event received through SNS, stored as received and processed once.

    ``event_key`` identifies the SES event itself, so the same event arriving through two SNS subscriptions
    (identity notifications and a configuration set's event publishing) is one row.
    """

    sns_message_id = models.CharField(max_length=100, unique=True)
    event_key = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=32)
    ses_message_id = models.CharField(max_length=100, blank=True, db_index=True)
    topic_arn = models.CharField(max_length=256)
    payload = models.JSONField(help_text="The SES event as received; it names recipients, so it is purged in time.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.event_type} {self.ses_message_id}"


class SoftBounce(models.Model):
    """A transient bounce of an address (by its HMAC): enough of them within a window suppress it."""

    address_hmac = models.CharField(max_length=64)
    bounced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["address_hmac", "bounced_at"])]

    def __str__(self):
        return f"Soft bounce at {self.bounced_at:%Y-%m-%d %H:%M}"
