"""The sale of the business: a complete archive of subscriber data with its consent evidence, for the new owner.

One zip of CSV files (subscribers, accounts and profiles, subscriptions, the consent ledger, topics, privacy
policy versions and who acknowledged them, suppressions, past disclosures), a README for the buyer and
``manifest.json`` with the SHA-256 of each file. Read in one consistent snapshot of the database and written in
chunks, so memory stays flat however many subscribers there are. Logged as a ``Disclosure`` naming everyone included.

Objectors to third-party sharing are included, with their objection: a sale passes the business itself to a
new owner, who must go on honouring it (see docs/privacy.md, "Sale of the business").
"""

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import permissions
from ..addresses import address_hmac
from ..attributevalues import COLUMN, attribute_value_text
from ..audit import SUBSCRIBER_LOG
from ..csvcells import csv_address_cell, csv_cell
from ..models import (
    Attribute,
    AttributeValue,
    ConsentEvent,
    Disclosure,
    DisclosureKind,
    DisclosureRecipient,
    PolicyAcknowledgement,
    PrivacyPolicyVersion,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    User,
)
from .disclosures import disclosure_recipients_insert
from .errors import DisclosureError

CHUNK_ROWS = 5000
PROGRESS_EVERY = 50_000
PURPOSE = "Sale or transfer of the business, to its new owner"
# The buyer checks they hold our HMAC key by computing the HMAC of this address with it (see the README).
KEY_CHECK_ADDRESS = "key-check@hmac.invalid"


def _customer_accounts():
    """The shop's customers' accounts: staff accounts are not customers, and are not handed over."""
    return User.objects.filter(is_staff=False, is_superuser=False)


class _Rows:
    """A queryset read in chunks with each row changed by ``transform`` on the way (for ``_table_write``)."""

    def __init__(self, queryset, transform):
        self.queryset, self.transform = queryset, transform

    def iterator(self, chunk_size: int):
        return map(self.transform, self.queryset.iterator(chunk_size=chunk_size))


def _attribute_values():
    """Each value held, as (subscriber_id, key, value as text), the value read from its type's column."""
    types = dict(Attribute.objects.values_list("pk", "type"))
    position = {"text": 3, "number": 4, "date": 5, "boolean": 6}
    rows = AttributeValue.objects.order_by("pk").values_list(
        "subscriber_id", "attribute_id", "attribute__key", "text", "number", "date", "boolean"
    )
    return _Rows(
        rows, lambda row: (row[0], row[2], attribute_value_text(row[position[COLUMN[types[row[1]]]]]))
    )


# Columns holding an email address, written exactly as held unless a spreadsheet could run it (csv_address_cell).
ADDRESS_COLUMNS = {"email"}

# (file name, columns, rows). Each rows() yields tuples in column order, read with .iterator() in chunks.
TABLES: list[tuple[str, tuple[str, ...], Callable[[], Iterable[tuple]]]] = [
    (
        "subscribers.csv",
        ("subscriber_id", "email", "first_name", "email_confirmed_at", "created_at", "account_id"),
        lambda: Subscriber.objects.order_by("pk").values_list(
            "pk", "email", "first_name", "email_confirmed_at", "created_at", "user_id"
        ),
    ),
    (
        "accounts.csv",
        (
            "account_id", "email", "first_name", "last_name", "registered_at", "last_login", "telephone",
            "address_line1", "address_line2", "town", "county", "postcode", "country",
        ),
        lambda: _customer_accounts().order_by("pk").values_list(
            "pk", "email", "first_name", "last_name", "date_joined", "last_login", "profile__telephone",
            "profile__address_line1", "profile__address_line2", "profile__town", "profile__county",
            "profile__postcode", "profile__country",
        ),
    ),
    (
        "subscriptions.csv",
        ("subscriber_id", "topic", "status", "lawful_basis", "requested_at", "confirmed_at", "unsubscribed_at"),
        lambda: Subscription.objects.order_by("pk").values_list(
            "subscriber_id", "topic__slug", "status", "lawful_basis", "requested_at", "confirmed_at", "unsubscribed_at"
        ),
    ),
    (
        "consent_events.csv",
        (
            "event_id", "subscriber_id", "topic", "purpose", "action", "source", "occurred_at",
            "privacy_policy_version", "wording_sha256", "ip_address_truncated", "detail",
        ),
        lambda: ConsentEvent.objects.order_by("pk").values_list(
            "pk", "subscriber_id", "topic__slug", "purpose", "action", "source", "occurred_at",
            "policy_version__version", "wording_hash", "ip_truncated", "detail",
        ),
    ),
    (
        "attributes.csv",
        ("key", "label", "type", "choices"),
        lambda: Attribute.objects.order_by("position", "label").values_list("key", "label", "type", "choices"),
    ),
    (
        "attribute_values.csv",
        ("subscriber_id", "attribute", "value"),
        _attribute_values,
    ),
    (
        "topics.csv",
        ("slug", "name", "description", "is_default", "is_active", "created_at"),
        lambda: Topic.objects.order_by("pk").values_list(
            "slug", "name", "description", "is_default", "is_active", "created_at"
        ),
    ),
    (
        "privacy_policy_versions.csv",
        ("version", "published_at", "text"),
        lambda: PrivacyPolicyVersion.objects.order_by("published_at").values_list("version", "published_at", "text"),
    ),
    (
        "policy_acknowledgements.csv",
        ("account_id", "privacy_policy_version", "acknowledged_at"),
        lambda: PolicyAcknowledgement.objects.filter(user__in=_customer_accounts())
        .order_by("pk")
        .values_list("user_id", "version__version", "acknowledged_at"),
    ),
    (
        "suppressions.csv",
        ("address_hmac", "scope", "reason", "created_at"),
        lambda: Suppression.objects.order_by("pk").values_list("address_hmac", "scope", "reason", "created_at"),
    ),
    (
        "disclosures.csv",
        (
            "disclosure_id", "kind", "recipient", "purpose", "contract_reference", "made_at", "topic", "row_count",
            "sha256", "fields_shared",
        ),
        lambda: Disclosure.objects.order_by("pk").values_list(
            "pk", "kind", "recipient", "purpose", "contract_reference", "made_at", "topic__slug", "row_count",
            "checksum", "fields_shared",
        ),
    ),
    (
        "disclosure_recipients.csv",
        ("disclosure_id", "subscriber_id", "account_id"),
        lambda: DisclosureRecipient.objects.order_by("pk").values_list("disclosure_id", "subscriber_id", "user_id"),
    ),
]

README = """Subscriber data of {brand}, handed over on the sale or transfer of the business.

Recipient: {recipient}
Prepared: {when} (UTC)

Files (each is CSV, UTF-8, with a header row; manifest.json gives each file's SHA-256, size and rows):
{files}

How the files fit together:
- subscriber_id joins subscribers.csv to subscriptions.csv, consent_events.csv and disclosure_recipients.csv;
  account_id joins subscribers.csv and disclosure_recipients.csv to accounts.csv (the shop account, with its
  profile: telephone and address). An account without a subscriber is someone who registered but never
  confirmed their address: they have no consent to email.
- subscriptions.csv: one row per person and topic. Only an "active" subscription with a confirmed_at date is
  consent to email. lawful_basis "soft_opt_in" covers the shop's own similar products only, never sharing.
- attribute_values.csv: what was recorded about each subscriber (subscriber_id joins subscribers.csv), one row
  per person and attribute; attributes.csv says what each attribute (by key) is, its type and its choices.
- consent_events.csv is the append-only evidence: who, what, how, when, the privacy policy version in force
  (privacy_policy_versions.csv) and the SHA-256 of the exact wording the person saw. Events without a
  subscriber_id belonged to people who were erased; they are kept, anonymised, for the totals.
- policy_acknowledgements.csv: which account said, from the notice on its account page, that it had read which
  privacy policy version, and when (account_id joins accounts.csv; one row per account and version).
- suppressions.csv lists addresses that must not be mailed or shared (scope "marketing", "third_party" or
  "all"), by a keyed HMAC-SHA256 of the trimmed, lower-cased address, never the address itself. Erased people
  appear only here. To keep honouring them you need the same HMAC key (SUPPRESSION_HMAC_KEY), handed over
  separately and securely, never with this file. Check it: HMAC-SHA256 of "{key_check_address}" with the key
  must be {key_check}.
- Everyone with a "third_party" suppression objected to their details being shared with other organisations:
  they are included because their details pass to you with the business, and the objection passes with them.
- disclosures.csv is the log of earlier disclosures to other organisations; disclosure_recipients.csv says who
  was in each, by subscriber_id, account_id or both.

Times are ISO 8601 in UTC. Cells that a spreadsheet would run as a formula start with an apostrophe, except
email addresses: those are exactly as held, even one beginning with "+" or "-" (valid and harmless, though Excel
may show it as an error: import the column as text). Only an address beginning with "=", or beginning with "+" or
"-" and holding characters a formula could use, starts with an apostrophe, which is not part of the address.
"""


@dataclass(frozen=True)
class BusinessTransferResult:
    disclosure: Disclosure
    path: Path
    checksum: str
    manifest: dict


class _HashingWriter(io.RawIOBase):
    """Writes through to a zip entry, counting the bytes and hashing them."""

    def __init__(self, target):
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)


def _cell(value) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return csv_cell(value)


def _table_write(archive: zipfile.ZipFile, name, columns, rows, progress, when) -> dict:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as entry:
        hashing = _HashingWriter(entry)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(columns)
        cells = [csv_address_cell if column in ADDRESS_COLUMNS else _cell for column in columns]
        count = 0
        for count, row in enumerate(rows().iterator(chunk_size=CHUNK_ROWS), start=1):
            writer.writerow([cell(value) for cell, value in zip(cells, row, strict=True)])
            if count % CHUNK_ROWS == 0:
                hashing.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
            if count % PROGRESS_EVERY == 0:
                progress(f"{name}: {count:,} rows")
        hashing.write(text.getvalue().encode("utf-8"))
    progress(f"{name}: {count:,} row{'' if count == 1 else 's'}, done")
    return {"sha256": hashing.digest.hexdigest(), "bytes": hashing.size, "rows": count}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def business_transfer_export(
    *, output: Path, recipient: str, made_by, progress: Callable[[str], None] = lambda line: None
) -> BusinessTransferResult:
    """Write the archive to ``output`` (never over an existing file) and log it as a Disclosure to ``recipient``,
    made by ``made_by`` (also in the audit log).

    Refused before anything is written: with ``ActionForbidden`` unless ``made_by`` may make this export, and with
    ``DisclosureError`` when the recipient is blank, the file exists or its folder does not. The archive's own
    SHA-256 is the disclosure's checksum.
    """
    permissions.actor_require(
        made_by, permissions.BUSINESS_TRANSFER_EXPORT, action="export every subscriber's data for a sale"
    )
    recipient = recipient.strip()
    if not recipient:
        raise DisclosureError("Name the recipient: the buyer, or their advisers.", field="recipient")
    limit = Disclosure._meta.get_field("recipient").max_length
    if len(recipient) > limit:
        raise DisclosureError(f"The recipient's name is longer than {limit} characters.", field="recipient")
    output = Path(output)
    if not output.parent.is_dir():
        raise DisclosureError(f"The folder {output.parent} does not exist.", field="output")
    try:
        handle = output.open("xb")  # exclusive: refuses, even in a race, a file that already exists
    except FileExistsError as err:
        raise DisclosureError(f"{output} already exists; it was left as it was. Choose a new name.") from err
    try:
        with handle:
            result = _export(handle=handle, output=output, recipient=recipient, made_by=made_by, progress=progress)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    return result


def _export(*, handle, output: Path, recipient: str, made_by, progress) -> BusinessTransferResult:
    now = timezone.now()
    # One snapshot for every file and for the list of who was included, so they agree with each other. On
    # PostgreSQL that is REPEATABLE READ, set as the transaction's first statement (impossible, and not needed,
    # when a caller already opened one); SQLite's transactions are serialisable already.
    outermost = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        manifest = {
            "recipient": recipient,
            "prepared_at": now.isoformat(),
            "brand": settings.BRAND_NAME,
            "hmac_key_check": {"address": KEY_CHECK_ADDRESS, "hmac_sha256": _key_check()},
            "files": {},
        }
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, columns, rows in TABLES:
                manifest["files"][name] = _table_write(archive, name, columns, rows, progress, now)
            readme = _readme(recipient=recipient, when=now, files=manifest["files"]).encode("utf-8")
            archive.writestr("README.txt", readme)
            manifest["files"]["README.txt"] = {"sha256": hashlib.sha256(readme).hexdigest(), "bytes": len(readme)}
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        handle.flush()
        checksum = _file_sha256(output)
        disclosure = Disclosure.objects.create(
            kind=DisclosureKind.BUSINESS_TRANSFER,
            recipient=recipient,
            purpose=PURPOSE,
            made_by=made_by,
            made_by_email=getattr(made_by, "email", "") or "",
            made_at=now,
            checksum=checksum,
            fields_shared=[name for name, _, _ in TABLES],
            file_name=output.name,
        )
        disclosure.row_count = _recipients_insert(disclosure=disclosure)
        disclosure.save(update_fields=["row_count"])
        SUBSCRIBER_LOG.write(
            instance=disclosure,
            action="subscribers.business_transfer_export",
            user=made_by,
            data={"recipient": recipient, "people": disclosure.row_count, "sha256": checksum},
        )
    progress(f"Logged as disclosure #{disclosure.pk}: {disclosure.row_count:,} people.")
    return BusinessTransferResult(disclosure=disclosure, path=output, checksum=checksum, manifest=manifest)


def _recipients_insert(*, disclosure: Disclosure) -> int:
    """Name everyone in the archive in the disclosure's list, once each: every subscriber, with their account when
    they have one (or the account registered with their address, not yet linked), then every other customer
    account without a subscriber (its holder never confirmed their address).
    Returns how many people that is."""
    accounts_alone = _customer_accounts().filter(subscriber__isnull=True)
    # Someone who registered and asked for the newsletter, but has not yet confirmed their address, has an account
    # and a subscriber not yet linked to it: one person, named with both.
    registered = accounts_alone.filter(email=OuterRef("email")).values("pk")[:1]
    account = Coalesce("user_id", Subquery(registered))
    subscribers = Subscriber.objects.order_by().annotate(account=account).values("pk", "account")
    unlinked = Subscriber.objects.filter(user__isnull=True).values("email")
    accounts_alone = accounts_alone.exclude(email__in=unlinked).order_by().values("pk")
    return disclosure_recipients_insert(
        disclosure=disclosure, people=subscribers, columns=("subscriber_id", "user_id")
    ) + disclosure_recipients_insert(disclosure=disclosure, people=accounts_alone, columns=("user_id",))


def _key_check() -> str:
    return address_hmac(KEY_CHECK_ADDRESS)


def _readme(*, recipient: str, when, files: dict) -> str:
    listing = "\n".join(
        f"- {name}: {info['rows']:,} row{'' if info['rows'] == 1 else 's'}" for name, info in files.items()
    )
    return README.format(
        brand=settings.BRAND_NAME,
        recipient=recipient,
        when=when.strftime("%d %B %Y %H:%M"),
        files=listing,
        key_check_address=KEY_CHECK_ADDRESS,
        key_check=_key_check(),
    )
