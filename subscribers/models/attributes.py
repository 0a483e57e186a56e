"""Subscriber attributes: what staff declare about people (country, last order, birthday) and each person's values.

Values are typed columns of one table, a row per (subscriber, attribute), each indexed with its attribute first, so
a segment's condition on an attribute ("last order after 1 March") is an index range scan whatever the number of
subscribers, and a segment of several conditions is one query of ``EXISTS`` over this table (docs/segments.md).
"""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .core import Subscriber

ATTRIBUTE_KEY_RULE = RegexValidator(
    r"^[a-z][a-z0-9_]{0,49}$",
    "Use lower-case letters, digits and underscores, starting with a letter (it is a CSV column and an API field).",
)


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes or no"
    CHOICE = "choice", "One of a list"


class Attribute(models.Model):
    """Something staff record about subscribers, declared once: its key, its label and its type."""

    key = models.CharField(max_length=50, unique=True, validators=[ATTRIBUTE_KEY_RULE])
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=AttributeType.choices)
    # For "one of a list": the values allowed, in the order offered.
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    wagtail_reference_index_ignore = True

    class Meta:
        ordering = ["position", "label"]

    def __str__(self):
        return self.label


class AttributeValue(models.Model):
    """One subscriber's value of one attribute, in the column of its type (the others stay empty)."""

    # No index of its own: the unique constraint leads with the subscriber.
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="attribute_values", db_index=False
    )
    # No index of its own: each value index leads with the attribute.
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="values", db_index=False)
    text = models.CharField(max_length=255, blank=True, default="")  # text and "one of a list"
    number = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    boolean = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    wagtail_reference_index_ignore = True

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "attribute"], name="one_value_per_attribute")]
        indexes = [
            models.Index(fields=["attribute", column, "subscriber"], name=f"attribute_value_{column}", condition=when)
            for column, when in (
                ("text", ~Q(text="")),
                ("number", Q(number__isnull=False)),
                ("date", Q(date__isnull=False)),
                ("boolean", Q(boolean__isnull=False)),
            )
        ]

    def __str__(self):
        return f"{self.attribute.key} of subscriber {self.subscriber_id}"
