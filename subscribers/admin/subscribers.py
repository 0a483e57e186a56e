"""Admin download: a topic's subscribers as CSV for the marketing team (streamed; formula-safe cells).

Internal use only: giving this file to another organisation is a disclosure, which goes through the partner
export (it leaves out objectors and is logged) instead.
"""

import csv

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..csvcells import csv_address_cell, csv_cell
from ..models import Subscription, Topic

COLUMNS = ("email", "first_name", "status", "lawful_basis", "requested_at", "confirmed_at", "unsubscribed_at")


class _Echo:
    def write(self, value):
        return value


def _rows(topic: Topic):
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    subscriptions = (
        Subscription.objects.filter(topic=topic)
        .order_by("subscriber__email")
        .values_list("subscriber__email", "subscriber__first_name", "status", "lawful_basis", *COLUMNS[4:])
    )
    for email, *rest in subscriptions.iterator(chunk_size=2000):
        # The address exactly when harmless (so the file imports back as it was), as the partner export writes it.
        cells = [csv_address_cell(email)]
        cells.extend(csv_cell(value.isoformat() if hasattr(value, "isoformat") else value) for value in rest)
        yield writer.writerow(cells)


@require_GET
def topic_subscribers_csv(request, topic_id: int):
    if not request.user.has_perm("subscribers.view_subscription"):
        raise PermissionDenied
    topic = get_object_or_404(Topic, pk=topic_id)
    response = StreamingHttpResponse(_rows(topic), content_type="text/csv; charset=utf-8")
    name = f"{topic.slug}-subscribers-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
