"""Partner exports: the subscribers of one topic who may be shared with a partner, as a CSV of only the fields a
partner needs, logged as a ``Disclosure`` with who is in it and the SHA-256 of exactly the bytes handed over.

Who may be in it is ``selectors.partner_export_eligible``; this module writes the log and the file, in one
transaction, so a disclosure is logged if and only if its file was made.
"""

import csv
import hashlib
import io
import tempfile
from typing import IO

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from .. import permissions
from ..audit import SUBSCRIBER_LOG
from ..csvcells import csv_address_cell, csv_cell
from ..models import Disclosure, DisclosureKind, DisclosureRecipient, Partner, Topic
from ..selectors import partner_export_eligible
from .errors import DisclosureError, DisclosureRepeated

# Data minimisation: a partner gets what it needs to write to the person by name, nothing more.
PARTNER_EXPORT_FIELDS = ("email", "first_name")
# Rows fetched from the database at a time, and bytes kept in memory before the file moves to disk.
CHUNK_ROWS = 2000
SPOOL_BYTES = 16 * 1024 * 1024


# The columns of DisclosureRecipient that name a person, which is all a caller may choose.
RECIPIENT_COLUMNS = ("subscriber_id", "user_id")


def disclosure_recipients_insert(
    *, disclosure: Disclosure, people: QuerySet, columns: tuple[str, ...] = ("subscriber_id",)
) -> int:
    """Link the disclosure to every person ``people`` selects, with one INSERT ... SELECT, and return how many were
    linked. ``people`` is a ``values()`` queryset whose columns fill ``columns`` in order, each person once: by
    default one column of subscriber ids; ``("user_id",)`` names accounts instead, ``("subscriber_id", "user_id")``
    both."""
    unknown = set(columns) - set(RECIPIENT_COLUMNS)
    if not columns or unknown:
        raise ValueError(f"A disclosure recipient is named by {RECIPIENT_COLUMNS}, not {sorted(unknown)}.")
    select_sql, params = people.query.sql_with_params()
    table = DisclosureRecipient._meta.db_table
    sql = f"INSERT INTO {table} (disclosure_id, {', '.join(columns)}) SELECT %s, chosen.* FROM ({select_sql}) chosen"  # noqa: S608 - table and columns from the model, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [disclosure.pk, *params])
        return cursor.rowcount


def webhook_disclosure_record(
    *,
    partner: Partner | None,
    recipient: str,
    subscriber_id: int,
    fields: list[str],
    checksum: str,
    description: str,
) -> Disclosure:
    """Log one webhook delivery that carries a person's details to a partner's endpoint: a disclosure of one person,
    its fields and the SHA-256 of the body handed over. ``recipient`` names the endpoint when no partner is linked;
    ``description`` (the event type and its id) stands where an export names its file. Made by the platform itself,
    so nobody is named as having made it. Call inside a transaction with the delivery it is for."""
    disclosure = Disclosure.objects.create(
        kind=DisclosureKind.WEBHOOK,
        partner=partner,
        recipient=(partner.name if partner else recipient)[:150],
        purpose=partner.purpose if partner else "Events about subscribers, by webhook",
        contract_reference=partner.contract_reference if partner else "",
        made_at=timezone.now(),
        row_count=1,
        checksum=checksum,
        fields_shared=list(fields),
        file_name=description[:255],
    )
    DisclosureRecipient.objects.create(disclosure=disclosure, subscriber_id=subscriber_id)
    return disclosure


def partner_export_file_name(*, partner: Partner, topic: Topic, when=None) -> str:
    when = when or timezone.now()
    return f"{slugify(partner.name) or 'partner'}-{topic.slug}-{timezone.localtime(when):%Y-%m-%d}.csv"


def _csv_write(*, disclosure: Disclosure) -> tuple[IO[bytes], str]:
    """The disclosure's people as CSV (formula-safe cells; a valid address exactly as held unless a spreadsheet
    could run it), in a file that stays in memory while small, and the SHA-256 of its bytes."""
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open, to the caller
    digest = hashlib.sha256()
    text = io.StringIO()
    writer = csv.writer(text)

    def flush():
        data = text.getvalue().encode("utf-8")
        digest.update(data)
        file.write(data)
        text.seek(0)
        text.truncate()

    writer.writerow(PARTNER_EXPORT_FIELDS)
    rows = (
        DisclosureRecipient.objects.filter(disclosure=disclosure)
        .order_by("subscriber__email")
        .values_list("subscriber__email", "subscriber__first_name")
    )
    for count, (email, first_name) in enumerate(rows.iterator(chunk_size=CHUNK_ROWS), start=1):
        writer.writerow([csv_address_cell(email), csv_cell(first_name)])
        if count % CHUNK_ROWS == 0:
            flush()
    flush()
    file.seek(0)
    return file, digest.hexdigest()


def partner_export_create(
    *, partner: Partner, topic: Topic, made_by, request_key: str | None = None
) -> tuple[Disclosure, IO[bytes]]:
    """Export the topic's eligible subscribers for the partner: the logged ``Disclosure`` and the CSV file (open,
    at its start) whose bytes its checksum covers.

    Refused with ``ActionForbidden`` unless ``made_by`` may export to partners, and with ``DisclosureError``,
    logging nothing, for an inactive partner or topic or when nobody would be in it. ``request_key`` identifies the
    confirmation form: a second export with the same key raises ``DisclosureRepeated`` naming the first, so a
    double click hands nothing over twice. Written to the audit log under ``made_by``.
    """
    permissions.actor_require(made_by, permissions.PARTNER_EXPORT, action="export subscribers to a partner")
    if not partner.is_active:
        raise DisclosureError(
            f"{partner.name} is inactive: its contract has ended or is suspended, so nothing can be shared with it.",
            field="partner",
        )
    if not topic.is_active:
        raise DisclosureError(
            f"The topic {topic.name} is inactive: its subscribers cannot see or change it, so it cannot be shared.",
            field="topic",
        )
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                disclosure = Disclosure.objects.create(
                    kind=DisclosureKind.PARTNER_EXPORT,
                    partner=partner,
                    recipient=partner.name,
                    purpose=partner.purpose,
                    contract_reference=partner.contract_reference,
                    made_by=made_by,
                    made_by_email=getattr(made_by, "email", "") or "",
                    made_at=now,
                    topic=topic,
                    fields_shared=list(PARTNER_EXPORT_FIELDS),
                    file_name=partner_export_file_name(partner=partner, topic=topic, when=now),
                    request_key=request_key,
                )
        except IntegrityError as err:
            first = Disclosure.objects.filter(request_key=request_key).first()
            raise DisclosureRepeated(
                "This export was already made from this page; nothing more was shared.", disclosure=first
            ) from err
        # One statement, so the people linked and the people written below are the same set.
        eligible = partner_export_eligible(topic=topic).values("subscriber_id")
        row_count = disclosure_recipients_insert(disclosure=disclosure, people=eligible)
        if row_count == 0:
            # Rolls the disclosure back: an export with nobody in it hands nothing over and logs nothing.
            raise DisclosureError(
                f"Nobody subscribed to {topic.name} may be shared with a partner (see who is left out and why), "
                "so there is nothing to export.",
                field="topic",
            )
        file, checksum = _csv_write(disclosure=disclosure)
        disclosure.row_count, disclosure.checksum = row_count, checksum
        disclosure.save(update_fields=["row_count", "checksum"])
        SUBSCRIBER_LOG.write(
            instance=disclosure,
            action="subscribers.partner_export",
            user=made_by,
            data={"partner": partner.name, "topic": topic.name, "people": row_count, "sha256": checksum},
        )
    return disclosure, file
