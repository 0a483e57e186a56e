"""Seed the demo's attributes, their values for the demo audience, and two saved segments built on them.

Run after ``seed_audience``: the values go to its readers (``reader00001@audience.example`` and on). Idempotent: an
attribute or segment that exists is left as it is, and a reader who holds a value of an attribute keeps it.
"""

import random
import re
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from campaigns.segments.models import Segment
from campaigns.segments.selectors import segment_count
from campaigns.segments.services import segment_create
from subscribers.attributevalues import COLUMN
from subscribers.models import Attribute, AttributeType, AttributeValue, Subscriber
from subscribers.services.attributes import attribute_declare

COUNTRIES = ["England", "Scotland", "Wales", "Northern Ireland", "Ireland"]
COUNTRY_WEIGHTS = [60, 15, 10, 5, 10]
METALS = ["Gold", "Silver", "Rose gold", "Platinum"]
# (key, label, type, choices); invented for the invented jeweller.
ATTRIBUTES = [
    ("country", "Country", AttributeType.CHOICE, COUNTRIES),
    ("last_order", "Last order", AttributeType.DATE, []),
    ("metal", "Favourite metal", AttributeType.CHOICE, METALS),
    ("vip", "VIP customer", AttributeType.BOOLEAN, []),
]

SEGMENTS = [
    (
        "Customers in Scotland",
        "Readers whose country is Scotland: for the Edinburgh trunk show.",
        {"all": [{"field": "attribute:country", "op": "equals", "value": "Scotland"}]},
    ),
    (
        "Ordered in the last 90 days and VIP",
        "VIP customers with a recent order: first look at the private sale.",
        {
            "all": [
                {"field": "attribute:last_order", "op": "within_days", "value": 90},
                {"field": "attribute:vip", "op": "equals", "value": True},
            ]
        },
    ),
]

READER = re.compile(r"^reader(\d+)@audience\.example$")


def demo_values(number: int, today: date) -> dict:
    """One reader's values, drawn from a generator seeded with their number: the same reader always gets the same
    values (relative to ``today``). Some leave the last order or the metal unset, as real data does."""
    draw = random.Random(f"demo-reader-{number}")  # noqa: S311 - demo data, not security
    values = {
        "country": draw.choices(COUNTRIES, COUNTRY_WEIGHTS)[0],
        "vip": draw.random() < 0.15,
    }
    if draw.random() < 0.7:
        values["last_order"] = today - timedelta(days=draw.randint(1, 540))
    if draw.random() < 0.8:
        values["metal"] = draw.choice(METALS)
    return values


class Command(BaseCommand):
    help = "Create demo attributes, their values for the demo audience and two segments (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        attributes = {
            key: self._attribute(key, label, type, choices, position)
            for position, (key, label, type, choices) in enumerate(ATTRIBUTES, start=1)
        }
        readers = [
            (subscriber_id, int(match.group(1)))
            for subscriber_id, email in Subscriber.objects.filter(email__endswith="@audience.example").values_list(
                "pk", "email"
            )
            if (match := READER.match(email))
        ]
        today = timezone.localdate()
        held = set(
            AttributeValue.objects.filter(attribute__in=attributes.values()).values_list(
                "subscriber_id", "attribute_id"
            )
        )
        # Demo data only, so rows are bulk-created (one INSERT per batch) rather than set person by person through
        # subscriber_attributes_set, which would write an audit entry per reader.
        rows = []
        for subscriber_id, number in readers:
            for key, value in demo_values(number, today).items():
                attribute = attributes[key]
                if (subscriber_id, attribute.pk) in held:
                    continue
                rows.append(
                    AttributeValue(subscriber_id=subscriber_id, attribute=attribute, **{COLUMN[attribute.type]: value})
                )
        AttributeValue.objects.bulk_create(rows, batch_size=2000)
        for name, description, definition in SEGMENTS:
            if not Segment.objects.filter(name__iexact=name).exists():
                segment_create(name=name, description=description, definition=definition)
        counts = ", ".join(f"{name}: {segment_count(definition):,}" for name, _, definition in SEGMENTS)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo attributes and segments ready: {len(attributes)} attributes, {len(rows):,} new values "
                f"for {len(readers):,} readers; {counts}."
            )
        )

    @staticmethod
    def _attribute(key: str, label: str, type: str, choices: list[str], position: int) -> Attribute:
        attribute = Attribute.objects.filter(key=key).first()
        if attribute is None:
            return attribute_declare(key=key, label=label, type=type, choices=choices, position=position, actor=None)
        # Values are written straight to the column of the type; one declared otherwise by staff would get the
        # wrong column, so it is refused rather than filled.
        if attribute.type != type:
            raise CommandError(
                f"The attribute “{key}” exists with the type {attribute.type}; the demo needs {type}. "
                "Rename or delete it, then seed again."
            )
        # Choices staff added since are no obstacle; one the demo writes, removed or renamed, is.
        missing = [choice for choice in choices if choice not in attribute.choices]
        if type == AttributeType.CHOICE and missing:
            raise CommandError(
                f"The attribute “{key}” exists without the choices {', '.join(missing)}, which the demo's values "
                f"use (it has {', '.join(attribute.choices)}). Add them back, then seed again."
            )
        return attribute
