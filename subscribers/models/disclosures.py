"""Third parties we may share personal data with, and the log of every disclosure: to a partner, or in a sale of
the business. A disclosure keeps copies of what it was about (recipient, purpose, contract, who made it) as text,
so the log stays true when a partner is renamed or a staff account is removed."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .core import Subscriber, Topic, User


class Partner(models.Model):
    """An organisation we may share subscribers' details with, under a contract, for one stated purpose."""

    name = models.CharField(max_length=150, unique=True)
    purpose = models.CharField(
        max_length=255, help_text="What the partner may use the details for, in the words people would recognise."
    )
    contract_reference = models.CharField(
        max_length=100, help_text="The data-sharing agreement this rests on, such as “DSA-2026-04”."
    )
    is_active = models.BooleanField(
        default=True, help_text="Only active partners can be chosen for an export. Untick when the contract ends."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name if self.is_active else f"{self.name} (inactive)"


class DisclosureKind(models.TextChoices):
    PARTNER_EXPORT = "partner_export", "Partner export"
    BUSINESS_TRANSFER = "business_transfer", "Sale of the business"
    # One event about one person, with their address and name, posted to a partner's webhook endpoint.
    WEBHOOK = "webhook", "Webhook to a partner"


class Disclosure(models.Model):
    """One handing-over of personal data to another organisation: who made it, when, to whom, for what, how many
    people, which fields, and the SHA-256 of exactly the bytes handed over. Never changed once written."""

    kind = models.CharField(max_length=24, choices=DisclosureKind.choices)
    # Empty for a sale of the business, whose recipient (the buyer) is named in ``recipient`` only.
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="disclosures")
    recipient = models.CharField(max_length=150, help_text="The partner's name at the time, or the buyer.")
    purpose = models.CharField(max_length=255)
    contract_reference = models.CharField(max_length=100, blank=True)
    made_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    made_by_email = models.EmailField(max_length=254, blank=True, help_text="Copied, so the log outlives the account.")
    made_at = models.DateTimeField(default=timezone.now, db_index=True)
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    row_count = models.PositiveIntegerField(default=0, help_text="How many people were in it.")
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the file handed over.")
    fields_shared = models.JSONField(default=list)
    file_name = models.CharField(max_length=255, blank=True)
    # The random key of the confirmation form that asked for it: a second click on the same form is refused.
    request_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-made_at", "-pk"]
        permissions = [
            ("export_to_partner", "Can export subscribers' details to a partner"),
            ("export_business_transfer", "Can export every subscriber's data for a sale of the business"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient} at {self.made_at:%Y-%m-%d %H:%M}"


class DisclosureRecipient(models.Model):
    """That one person's details were in one disclosure (for their copy of their data). Deleted with the person at
    erasure, while the disclosure's ``row_count`` stays as it was.

    A person is named by their subscriber, their account, or both. A sale of the business hands over accounts whose
    holders never confirmed their address and so have no subscriber yet; the account link is what lets their copy
    of their data show the sale once they confirm it, and keeps it there if their account later moves to another
    subscriber."""

    disclosure = models.ForeignKey(Disclosure, on_delete=models.CASCADE, related_name="recipients")
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.CASCADE, related_name="disclosures_received"
    )
    # No index of its own: the unique constraint below leads with it.
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="disclosures_received", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "disclosure"], name="one_link_per_disclosure_and_person"),
            models.UniqueConstraint(fields=["user", "disclosure"], name="one_link_per_disclosure_and_account"),
            models.CheckConstraint(
                condition=Q(subscriber__isnull=False) | Q(user__isnull=False), name="disclosure_recipient_named"
            ),
        ]

    def __str__(self):
        if self.subscriber_id is None:
            return f"Account {self.user_id} in disclosure {self.disclosure_id}"
        return f"Subscriber {self.subscriber_id} in disclosure {self.disclosure_id}"
