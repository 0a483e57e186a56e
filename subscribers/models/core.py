"""Customers, subscriptions, the consent ledger and the suppression list."""

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..publicids import public_id_new


class UserManager(BaseUserManager):
    """Users log in with their email address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """An account. The email address is the login; names live here so Wagtail's user screens work."""

    username = None
    email = models.EmailField("email address", unique=True, max_length=254)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email


class CustomerProfile(models.Model):
    """What the shop collects at registration beyond name and email: telephone and postal address."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    telephone = models.CharField(max_length=32, help_text="Stored in international (E.164) form.")
    address_line1 = models.CharField("address line 1", max_length=100)
    address_line2 = models.CharField("address line 2", max_length=100, blank=True)
    town = models.CharField("town or city", max_length=60)
    county = models.CharField(max_length=60, blank=True)
    postcode = models.CharField(max_length=10)
    country = models.CharField(max_length=2, default="GB")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Profile of {self.user}"


class Subscriber(models.Model):
    """A person who can receive marketing email. May exist without an account (public signup form)."""

    # Kept out of Wagtail's reference index: admin "usage" counts of these rows help nobody, and indexing each save
    # cost about a third of an API sign-up's time (docs/BENCHMARKS.md).
    wagtail_reference_index_ignore = True

    email = models.EmailField(unique=True, max_length=254)
    # Keyed HMAC of the address (addresses.address_hmac), so that audiences can leave out suppressed
    # addresses in SQL. Set by every service that sets ``email``.
    address_hmac = models.CharField(max_length=64, editable=False, default="")
    user = models.OneToOneField(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriber")
    first_name = models.CharField(max_length=150, blank=True)
    # Unguessable (publicids): the preference-centre token signs this, not the address.
    public_id = models.UUIDField(default=public_id_new, unique=True, editable=False)
    email_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person last proved they read this address."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        # No index on address_hmac: nothing looks a subscriber up by it (by address, rather, which is indexed), and
        # an index would cost every new subscriber: about 4 s of a million-row import.

    def __str__(self):
        return self.email


class Topic(models.Model):
    """A subscription list. "General Subscription" is the default one and always exists."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="The topic offered at registration and on the public signup form."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive topics are hidden from customers.")
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_topic"),
        ]

    def __str__(self):
        return self.name


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending confirmation"
    ACTIVE = "active", "Active"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    SOFT_OPT_IN = "soft_opt_in", "Soft opt-in (existing customer)"


class Subscription(models.Model):
    """One subscriber on one topic: pending -> active -> unsubscribed (and back through double opt-in)."""

    # Kept out of Wagtail's reference index: admin "usage" counts of these rows help nobody, and indexing each save
    # cost about a third of an API sign-up's time (docs/BENCHMARKS.md).
    wagtail_reference_index_ignore = True

    # No index of their own: (subscriber, topic) and (topic, status, subscriber) below lead with each of them.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="subscriptions", db_index=False
    )
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="subscriptions", db_index=False)
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING)
    lawful_basis = models.CharField(max_length=16, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    public_id = models.UUIDField(default=public_id_new, unique=True, editable=False)
    # SHA-256 of the random nonce inside the confirmation link sent last; cleared once used.
    confirm_nonce_hash = models.CharField(max_length=64, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["topic__position", "topic__name"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "topic"], name="one_subscription_per_topic"),
        ]
        indexes = [
            # Also serves a send's audience snapshot, which walks a topic's active subscribers in subscriber order.
            models.Index(fields=["topic", "status", "subscriber"]),
            # Only links waiting to be used are looked up, so only they are indexed: the empty value, which every
            # confirmed or imported subscription has, stays out of the index.
            models.Index(
                fields=["confirm_nonce_hash"], condition=~Q(confirm_nonce_hash=""), name="subscription_confirm_nonce"
            ),
        ]

    def __str__(self):
        return f"{self.subscriber} on {self.topic} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == SubscriptionStatus.ACTIVE


class PrivacyPolicyVersion(models.Model):
    """A published version of the privacy policy. Every consent event names the version in force.

    Immutable once recorded (consent events point at it); the version in force is the latest whose
    ``published_at`` has passed, so a version can be recorded ahead of the day it takes effect.
    """

    version = models.CharField(max_length=20, unique=True, help_text="Numbers and dots, for example 2.1.")
    published_at = models.DateTimeField(default=timezone.now, help_text="When it takes effect.")
    text = models.TextField()
    summary = models.CharField(
        "what changed",
        max_length=300,
        blank=True,
        help_text="One or two sentences, shown to customers in the notice on Account Home.",
    )
    published_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    recorded_at = models.DateTimeField(default=timezone.now, editable=False, help_text="When staff published it.")

    class Meta:
        ordering = ["-published_at"]
        get_latest_by = "published_at"

    def __str__(self):
        return f"Privacy policy {self.version}"


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", "Marketing email"
    THIRD_PARTY = "third_party", "Sharing with third parties"


class ConsentAction(models.TextChoices):
    REQUESTED = "requested", "Opt-in requested (confirmation sent)"
    CONFIRMED = "confirmed", "Opt-in confirmed"
    GIVEN = "given", "Consent given by a confirmed address"
    WITHDRAWN = "withdrawn", "Consent withdrawn"
    RE_CONSENTED = "re_consented", "Consent given again after a suppression"
    OBJECTED = "objected", "Objected"
    OBJECTION_WITHDRAWN = "objection_withdrawn", "Objection withdrawn"
    IMPORTED = "imported", "Imported with evidence"
    SUPPRESSED = "suppressed", "Suppressed"


class ConsentSource(models.TextChoices):
    REGISTRATION = "registration", "Registration form"
    ACCOUNT_PAGE = "account_page", "Account pages"
    PUBLIC_FORM = "public_form", "Public signup form"
    EMAIL_LINK = "email_link", "Link in an email"
    ONE_CLICK = "one_click", "One-click unsubscribe (RFC 8058)"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre (email link)"
    ADMIN = "admin", "Staff, on the person's request"
    IMPORT = "import", "Import"
    API = "api", "API"
    SES_FEEDBACK = "ses_feedback", "SES feedback"


class ConsentEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The consent ledger is append-only: events are never updated.")

    def anonymise(self) -> int:
        """Erasure only: the events stay, for the totals, with nothing that could name the person."""
        return super().update(subscriber=None, ip_truncated=None, detail="")

    def delete(self):
        raise TypeError("The consent ledger is append-only: erasure anonymises events instead.")


class ConsentEvent(models.Model):
    """Append-only ledger of every consent change: who, what, how, when, under which policy and wording."""

    # Kept out of Wagtail's reference index: admin "usage" counts of these rows help nobody, and indexing each save
    # cost about a third of an API sign-up's time (docs/BENCHMARKS.md).
    wagtail_reference_index_ignore = True

    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_events"
    )
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=16, choices=ConsentPurpose.choices)
    action = models.CharField(max_length=24, choices=ConsentAction.choices)
    source = models.CharField(max_length=24, choices=ConsentSource.choices)
    occurred_at = models.DateTimeField(default=timezone.now)  # indexed with the key: Meta.indexes
    # Not indexed: nothing reads the ledger by policy version (versions are never deleted: the admin refuses it to
    # everyone, so PROTECT's look-up never runs), and the index cost every event written, a million per import.
    policy_version = models.ForeignKey(
        PrivacyPolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    wording_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the exact wording shown.")
    ip_truncated = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True, help_text="A reason given, or what triggered it.")

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            # The ledger's order, with the key that settles ties: the admin pages through it by position, a row
            # comparison the index answers exactly, even among the million events an import writes at one instant
            # (subscribers/admin/paging.py). It serves whatever asks by time alone, as the index on the time did.
            models.Index(fields=["occurred_at", "id"], name="consent_event_in_time_order"),
        ]
        verbose_name = "consent event"
        verbose_name_plural = "consent history"

    def __str__(self):
        return f"{self.get_action_display()} ({self.get_purpose_display()}) at {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The consent ledger is append-only: events are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The consent ledger is append-only: erasure anonymises events instead.")


class SuppressionScope(models.TextChoices):
    MARKETING = "marketing", "Marketing email"
    THIRD_PARTY = "third_party", "Sharing with third parties"
    ALL = "all", "All email and sharing"


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    OBJECTED = "objected", "Objected"
    BOUNCE = "bounce", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"
    ERASED = "erased", "Erased"
    MANUAL = "manual", "Added by staff"


class Suppression(models.Model):
    """An address that must not be mailed (or shared), named only by a keyed HMAC of its normalised form."""

    # Kept out of Wagtail's reference index: admin "usage" counts of these rows help nobody, and indexing each save
    # cost about a third of an API sign-up's time (docs/BENCHMARKS.md).
    wagtail_reference_index_ignore = True

    address_hmac = models.CharField(max_length=64, db_index=True)
    scope = models.CharField(max_length=16, choices=SuppressionScope.choices)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["address_hmac", "scope"], name="one_suppression_per_scope"),
        ]

    def __str__(self):
        return f"{self.get_scope_display()} suppression ({self.get_reason_display()})"


class EmailChangeRequest(models.Model):
    """A pending change of login address: the new address is used only after its owner confirms it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_change_requests")
    new_email = models.EmailField(max_length=254)
    nonce_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Email change for {self.user} ({'used' if self.used_at else 'pending'})"


class DetailsChange(models.Model):
    """Which profile fields a customer corrected, and when. Never the values (privacy by design)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="details_changes")
    fields = models.JSONField(default=list)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{', '.join(self.fields)} changed at {self.changed_at:%Y-%m-%d %H:%M}"
