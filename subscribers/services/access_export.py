"""A person's copy of everything held about them: prepared in the background as a zip (JSON and one CSV per
table), reachable through a link sent to their own confirmed address, deleted after ``ACCESS_EXPORT_DAYS``.

The tables come from every exporter registered in ``personal_data`` (this app's: account, profile,
subscriptions, consent history, suppressions, requests; campaigns': the emails sent). The link carries a random
secret whose hash alone is stored, inside a signed token that expires with the file.
"""

import csv
import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..csvcells import csv_cell
from ..links import absolute
from ..mail import transactional_email_send
from ..models import AccessExport, RightsRequest, RightsRequestStatus, Subscriber
from ..personal_data import exporters
from ..tokens import TokenExpired, TokenInvalid, expiring_token_make, expiring_token_read, nonce_hash, nonce_new
from .errors import AccessExportError

ACCESS_EXPORT_SALT = "subscribers.access-export"
DOWNLOAD_CHUNK_BYTES = 64 * 1024
README = """A copy of the data {brand} holds about you, prepared {when}.

data.json holds every table below; each CSV file holds one table, for a spreadsheet.

{tables}

Times are in UTC. Our emails are sent by Amazon Simple Email Service in the region named in email_processing.
Questions, or something missing or wrong? Reply to the email that brought you this file, or write to us at
{address}.
"""


def _root() -> Path:
    root = Path(settings.ACCESS_EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def access_export_request(
    *, subscriber: Subscriber, requested_by=None, rights_request: RightsRequest | None = None
) -> AccessExport:
    """Start preparing a copy of the subscriber's data; the link goes, when it is ready, to their address.

    Refused (AccessExportError) when the address was never confirmed: the copy goes only to someone who has
    shown they read that mailbox.
    """
    if not subscriber.email_confirmed_at and not subscriber.user_id:
        raise AccessExportError(
            "This person has never confirmed their email address, so a copy cannot be sent to it. "
            "Check who they are another way, and confirm the address first."
        )
    nonce, digest = nonce_new()
    export = AccessExport.objects.create(
        subscriber=subscriber, requested_by=requested_by, request=rights_request, nonce_hash=digest
    )
    from ..tasks import access_export_task

    transaction.on_commit(lambda: access_export_task.delay(export_id=export.pk, nonce=nonce))
    return export


def access_export_tables(*, subscriber: Subscriber) -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {}
    for exporter in exporters().values():
        tables.update(exporter(subscriber.pk))
    return dict(sorted(tables.items()))


def _zip(tables: dict[str, list[dict]]) -> bytes:
    buffer = io.BytesIO()
    now = timezone.now()
    summary = "\n".join(
        f"- {name}.csv: {len(rows)} row{'s' if len(rows) != 1 else ''}" for name, rows in tables.items()
    )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            README.format(
                brand=settings.BRAND_NAME,
                when=now.strftime("%d %B %Y %H:%M UTC"),
                tables=summary,
                address=settings.BRAND_POSTAL_ADDRESS,
            ),
        )
        archive.writestr("data.json", json.dumps(tables, indent=2, ensure_ascii=False))
        for name, rows in tables.items():
            text = io.StringIO()
            columns = list(rows[0]) if rows else []
            writer = csv.writer(text)
            writer.writerow(columns)
            writer.writerows([[csv_cell(row[column]) for column in columns] for row in rows])
            archive.writestr(f"{name}.csv", text.getvalue())
    return buffer.getvalue()


def access_export_build(*, export_id: int, nonce: str) -> AccessExport | None:
    """Write the zip and email the link. Returns None when the export is gone (its person was erased)."""
    export = AccessExport.objects.select_related("subscriber", "request").filter(pk=export_id).first()
    if export is None or export.subscriber is None or export.ready_at:
        return None
    data = _zip(access_export_tables(subscriber=export.subscriber))
    file_name = f"{secrets.token_hex(16)}.zip"
    (_root() / file_name).write_bytes(data)
    now = timezone.now()
    export.file_name, export.checksum = file_name, hashlib.sha256(data).hexdigest()
    export.ready_at, export.expires_at = now, now + timedelta(days=settings.ACCESS_EXPORT_DAYS)
    export.save(update_fields=["file_name", "checksum", "ready_at", "expires_at"])
    token = expiring_token_make(nonce=nonce, salt=ACCESS_EXPORT_SALT)
    transactional_email_send(
        to=export.subscriber.email,
        template="access_export",
        context={
            "first_name": export.subscriber.first_name,
            "url": absolute(reverse("account:export_download", args=[token])),
            "expires_at": export.expires_at,
        },
        kind="access-export",
    )
    if export.request and export.request.status == RightsRequestStatus.OPEN:
        from .rights import rights_request_close

        rights_request_close(
            request=export.request,
            status=RightsRequestStatus.DONE,
            outcome="A copy of their data was sent to their confirmed address.",
            closed_by=export.requested_by,
        )
    return export


def access_export_for_token(*, token: str) -> tuple[AccessExport, Path]:
    """The export a download link names, and its file. Raises AccessExportError with the reason."""
    try:
        nonce = expiring_token_read(
            token=token, salt=ACCESS_EXPORT_SALT, max_age=timedelta(days=settings.ACCESS_EXPORT_DAYS)
        )
    except TokenExpired as err:
        raise AccessExportError("This download link has expired. Ask for a new copy of your data.") from err
    except TokenInvalid as err:
        raise AccessExportError("This download link is not valid.") from err
    export = AccessExport.objects.filter(nonce_hash=nonce_hash(nonce)).first()
    if export is None or export.purged_at or not export.file_name or export.subscriber_id is None:
        raise AccessExportError("This copy has been deleted. Ask for a new copy of your data.")
    if export.expires_at and export.expires_at < timezone.now():
        raise AccessExportError("This download link has expired. Ask for a new copy of your data.")
    path = _root() / export.file_name
    if not path.is_file():
        raise AccessExportError("This copy has been deleted. Ask for a new copy of your data.")
    return export, path


def access_export_downloaded(*, export: AccessExport) -> None:
    """Record the first complete download (later ones leave the first time in place)."""
    AccessExport.objects.filter(pk=export.pk, downloaded_at__isnull=True).update(downloaded_at=timezone.now())


def access_export_chunks(*, export: AccessExport, path: Path) -> Iterator[bytes]:
    """The zip, chunk by chunk, for a streaming response; the download is recorded after the last chunk.

    A link opened by a mail scanner, or a download the person abandons (the server stops reading this
    generator and closes it), is therefore never recorded as the person having their copy.
    """
    with path.open("rb") as file:
        while chunk := file.read(DOWNLOAD_CHUNK_BYTES):
            yield chunk
    access_export_downloaded(export=export)


def access_export_files_delete(*, exports) -> int:
    """Delete the files of these exports (expired ones, or a person's at erasure); the rows stay, marked."""
    count = 0
    for export in exports.filter(purged_at__isnull=True).exclude(file_name=""):
        (_root() / export.file_name).unlink(missing_ok=True)
        export.purged_at = timezone.now()
        export.save(update_fields=["purged_at"])
        count += 1
    return count


def access_exports_purge() -> int:
    """Delete every export file past its expiry (the retention task runs this)."""
    return access_export_files_delete(exports=AccessExport.objects.filter(expires_at__lt=timezone.now()))
