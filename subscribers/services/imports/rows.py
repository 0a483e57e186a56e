"""Checking one row of an import in Python, in the single pass over the file: the address, the topic, the lawful
basis and its evidence, dates, and cells that a spreadsheet would run as formulas.

A good row becomes a tuple for the staging table; a bad one, a list of (line, column, problem). Problems never
quote the cell (it may be someone's address), except a topic or policy version name, which is not personal.
"""

import hmac
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from hashlib import sha256

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from ...csvcells import FORMULA_START
from ...models import LawfulBasis, PrivacyPolicyVersion, Topic
from ...wording import wording_hash
from ..errors import ImportMappingError
from .reader import FIELDS

MAX_SOURCE = 100
MAX_ORDER_REFERENCE = 64
MAX_FIRST_NAME = 150
DEFAULT_SOFT_OPT_IN_SOURCE = "order"
BASES = {"consent": LawfulBasis.CONSENT, "softoptin": LawfulBasis.SOFT_OPT_IN}

# The staging table's columns, in the order of the tuples ``RowChecker.check`` returns.
STAGING_COLUMNS = (
    "line",
    "email",
    "email_key",
    "email_alt",
    "hmac",
    "hmac_alt",
    "first_name",
    "topic_id",
    "basis",
    "consented_at",
    "policy_version_id",
    "wording_hash",
    "detail",
)


@dataclass
class ImportOptions:
    """What the person importing chose: the mapping (field -> the file's column) and whole-file values."""

    mapping: dict[str, str]
    topic: Topic | None = None  # for every row whose topic cell is empty or absent
    source: str = ""  # consent source for every row whose source cell is empty or absent
    policy_version: str = ""  # likewise, a PrivacyPolicyVersion.version
    skip_bad_rows: bool = False
    dry_run: bool = False
    extra: dict = field(default_factory=dict)


def _basis_key(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


@lru_cache(maxsize=4096)
def _parse_date(value: str) -> datetime | None:
    """ISO 8601 (2024-05-01, 2024-05-01T09:30:00Z, 2024-05-01 09:30) or day/month/year (01/05/2024). A time without
    a zone is taken as the shop's (TIME_ZONE). None when it is none of these."""
    try:
        if len(value) == 10 and value[2] == "/" and value[5] == "/":
            day = datetime.strptime(value, "%d/%m/%Y").date()
            return timezone.make_aware(datetime.combine(day, time(0)))
        if len(value) == 10:
            return timezone.make_aware(datetime.combine(date.fromisoformat(value), time(0)))
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


@lru_cache(maxsize=1024)
def _wording_hash(text: str) -> str:
    return wording_hash(text)


class RowChecker:
    """Checks rows against the topics and policy versions that exist when the import starts."""

    def __init__(self, *, positions: dict[str, int], columns: list[str], options: ImportOptions):
        self.positions = positions
        self.columns = columns
        self.options = options
        self.key = settings.SUPPRESSION_HMAC_KEY.encode()
        self.now = timezone.now()
        self.topics = {}
        for topic in Topic.objects.all():
            self.topics[topic.slug.lower()] = topic
            self.topics[topic.name.lower()] = topic
        self.versions = {v.version: v for v in PrivacyPolicyVersion.objects.all()}
        if options.policy_version and options.policy_version not in self.versions:
            raise ImportMappingError(
                f"There is no privacy policy version “{options.policy_version}”; the versions are "
                f"{', '.join(sorted(self.versions)) or 'none yet'}."
            )
        if options.topic is not None and not options.topic.is_active:
            raise ImportMappingError(f"The topic “{options.topic.name}” is inactive.")
        self.mapped = [(f, i, columns[i]) for f, i in positions.items()]
        self.width = len(columns)

    def _hmac(self, email: str) -> str:
        return hmac.new(self.key, email.encode(), sha256).hexdigest()

    def _label(self, name: str) -> str:
        index = self.positions.get(name)
        return self.columns[index] if index is not None else FIELDS[name]

    def check(self, line: int, cells: list[str]) -> tuple[tuple | None, list[tuple[int, str, str]]]:
        errors: list[tuple[int, str, str]] = []
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        values = {}
        for name, index, column in self.mapped:
            raw = cells[index]
            if raw.startswith(FORMULA_START):
                errors.append(
                    (
                        line,
                        column,
                        "starts with =, +, -, @, a tab or a carriage return: a spreadsheet would run it "
                        "as a formula (such as =HYPERLINK(...)). Remove that character, or the cell, and try again.",
                    )
                )
                values[name] = None
            else:
                values[name] = raw.strip()
        if errors:
            return None, errors
        error = errors.append

        email, email_key, email_alt = self._address(values["email"])
        if email is None:
            error((line, self._label("email"), "is not a valid email address." if values["email"] else "is empty."))

        first_name = values.get("first_name") or ""
        if len(first_name) > MAX_FIRST_NAME:
            error((line, self._label("first_name"), f"is longer than {MAX_FIRST_NAME} characters."))

        topic = self._topic(values.get("topic") or "", line, error)
        basis = BASES.get(_basis_key(values.get("lawful_basis") or "consent"))
        if basis is None:
            error((line, self._label("lawful_basis"), "must be “consent” or “soft_opt_in”."))

        source = values.get("consent_source") or self.options.source
        if len(source) > MAX_SOURCE:
            error((line, self._label("consent_source"), f"is longer than {MAX_SOURCE} characters."))
        consented_at = None
        if values.get("consent_date"):
            consented_at = _parse_date(values["consent_date"])
            if consented_at is None:
                error((line, self._label("consent_date"), "is not a date (use 2024-05-31 or 31/05/2024)."))
            elif consented_at > self.now:
                error((line, self._label("consent_date"), "is in the future."))
        wording = values.get("consent_wording") or ""
        version_name = values.get("policy_version") or self.options.policy_version
        version = self.versions.get(version_name) if version_name else None
        if version_name and version is None:
            error((line, self._label("policy_version"), f"names no privacy policy version “{version_name[:20]}”."))
        order = values.get("order_reference") or ""
        if len(order) > MAX_ORDER_REFERENCE:
            error((line, self._label("order_reference"), f"is longer than {MAX_ORDER_REFERENCE} characters."))

        if basis == LawfulBasis.CONSENT:
            missing = [
                label
                for label, present in (
                    ("consent source", source),
                    ("consent date", values.get("consent_date")),
                    ("consent wording or privacy policy version", wording or version_name),
                )
                if not present
            ]
            if missing:
                first = (
                    "consent_source"
                    if not source
                    else "consent_date"
                    if missing[0] == "consent date"
                    else ("consent_wording")
                )
                error((line, self._label(first), "missing consent evidence: no " + ", no ".join(missing) + "."))
        elif basis == LawfulBasis.SOFT_OPT_IN:
            source = source or DEFAULT_SOFT_OPT_IN_SOURCE
            if not order:
                error(
                    (
                        line,
                        self._label("order_reference"),
                        "missing evidence: a soft opt-in needs the order reference of the customer's purchase.",
                    )
                )
        if errors:
            return None, errors

        if wording:
            hashed = _wording_hash(wording)
        elif version is not None:
            hashed = _wording_hash(version.text)
        else:
            hashed = ""
        parts = [f"source: {source}"]
        if consented_at is not None:
            parts.append(f"consent date: {consented_at.date().isoformat()}")
        if order:
            parts.append(f"order: {order}")
        row = (
            line,
            email,
            email_key,
            email_alt,
            self._hmac(email),
            self._hmac(email_alt) if email_alt else None,
            first_name,
            topic.pk,
            basis,
            consented_at,
            version.pk if version is not None else None,
            hashed,
            "; ".join(parts)[:255],
        )
        return row, []

    def _topic(self, value: str, line: int, error) -> Topic | None:
        if not value:
            if self.options.topic is None:
                error((line, self._label("topic"), "is empty, and no topic was chosen for the whole file."))
            return self.options.topic
        topic = self.topics.get(value.lower())
        if topic is None:
            error((line, self._label("topic"), f"names no topic “{value[:40]}” (use a topic's slug or name)."))
        elif not topic.is_active:
            error((line, self._label("topic"), f"names the topic “{topic.name}”, which is inactive."))
        return topic

    @staticmethod
    def _address(value: str) -> tuple[str | None, str | None, str | None]:
        """(the address as stored, its ASCII spelling for dedupe, the other spelling of an internationalised domain
        or None); (None, None, None) when it is not a valid address."""
        email = value.lower()
        if not email or len(email) > 254 or "@" not in email:
            return None, None, None
        local, _, domain = email.rpartition("@")
        alt = None
        try:
            if not domain.isascii():
                ascii_domain = domain.encode("idna").decode("ascii").lower()
                key = alt = f"{local}@{ascii_domain}"
            else:
                key = email
                if "xn--" in domain:
                    unicode_domain = domain.encode("ascii").decode("idna").lower()
                    alt = f"{local}@{unicode_domain}" if unicode_domain != domain else None
            validate_email(key)
        except (UnicodeError, ValidationError):
            return None, None, None
        return email, key, alt
