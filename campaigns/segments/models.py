"""A saved segment: a name and a condition tree (docs/segments.md). Data only: it is checked by ``grammar`` when a
service saves it, and compiled by ``compiler`` when it is counted or sent to."""

from django.conf import settings
from django.db import models
from django.utils import timezone


def segment_definition_empty() -> dict:
    """Everyone: a group of no conditions."""
    return {"all": []}


class Segment(models.Model):
    """Who a campaign is for, beyond its topics: "customers in Scotland who joined this year"."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    definition = models.JSONField(
        default=segment_definition_empty, help_text="The condition tree (docs/segments.md), checked on every save."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "campaigns"
        ordering = ["name"]
        permissions = [("manage_segments", "Can create, change and delete segments")]

    def __str__(self):
        return self.name
