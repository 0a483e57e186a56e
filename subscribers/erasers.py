"""This app's own eraser for what lies outside its models: Wagtail's admin log, which names each object it
records an action on by its text (a subscriber's is their address)."""

from functools import reduce
from operator import or_

from django.db.models import Q, TextField
from django.db.models.functions import Cast
from wagtail.models import ModelLogEntry

from .personal_data import ErasureTarget, text_scrub


def admin_log_erase(target: ErasureTarget) -> dict[str, int]:
    if not target.emails:
        return {"admin_log_entries": 0}
    naming = reduce(or_, (Q(label__icontains=e) | Q(text__icontains=e) for e in target.emails))
    entries = ModelLogEntry.objects.annotate(text=Cast("data", TextField())).filter(naming)
    count = 0
    for entry in entries.only("pk", "label", "data"):
        entry.label = text_scrub(entry.label, target.emails)
        entry.data = text_scrub(entry.data, target.emails)
        entry.save(update_fields=["label", "data"])
        count += 1
    return {"admin_log_entries": count}
