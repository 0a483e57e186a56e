"""Checking one row of an import in Python, in the single pass over the file: the address, the topic, the lawful
basis and its evidence, dates, and cells that a spreadsheet would run as formulas.

A good row becomes a tuple for the staging table; a bad one, a list of (line, column, problem). Problems never
quote the cell (it may be someone's address), except a topic or policy version name, which is not personal.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email
from django.utils import timezone

from ...addresses import AddressHasher
from ...attributevalues import NUMBER_PATTERN, AttributeValueProblem, attribute_value_parse
from ...csvcells import FORMULA_START, signed_plain_address
from ...fieldrules import CONSENT_SOURCE, FIRST_NAME, ORDER_REFERENCE
from ...models import Attribute, AttributeType, LawfulBasis, PrivacyPolicyVersion, Topic
from ...wording import wording_hash
from ..errors import ImportMappingError
from .reader import ATTRIBUTE_FIELD, FIELDS

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
)  # then one column per attribute mapped, in the order of ``RowChecker.attributes`` (``sql.attribute_column``)


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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _microseconds(moment: datetime) -> int:
    """An aware moment as microseconds since the epoch: compared as a number, it costs a row none of the time-zone
    look-ups that comparing (or hashing) a datetime in the shop's zone costs each time, about a microsecond each."""
    return (moment - EPOCH) // MICROSECOND


class ConsentDate(NamedTuple):
    moment: datetime
    microseconds: int  # _microseconds(moment)
    day: str  # the day in the moment's own zone, as the consent event's detail gives it


@lru_cache(maxsize=4096)
def _parse_date(value: str) -> ConsentDate | None:
    """ISO 8601 (2024-05-01, 2024-05-01T09:30:00Z, 2024-05-01 09:30) or day/month/year (01/05/2024). A time without
    a zone is taken as the shop's (TIME_ZONE). None when it is none of these."""
    try:
        if len(value) == 10 and value[2] == "/" and value[5] == "/":
            day = datetime.strptime(value, "%d/%m/%Y").date()
            parsed = timezone.make_aware(datetime.combine(day, time(0)))
        elif len(value) == 10:
            parsed = timezone.make_aware(datetime.combine(date.fromisoformat(value), time(0)))
        else:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
            parsed = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    except ValueError:
        return None
    return ConsentDate(parsed, _microseconds(parsed), parsed.date().isoformat())


@lru_cache(maxsize=1024)
def _wording_hash(text: str) -> str:
    return wording_hash(text)


# Django's own address patterns, compiled once: ``validate_email`` resolves them lazily on every call, which costs
# more than the rest of a row's checks. An address they reject still goes through ``validate_email`` itself.
USER_RE = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
DOMAIN_RE = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
FORMULA_PROBLEM = (
    "starts with =, +, -, @, a tab or a carriage return: a spreadsheet would run it as a formula (such as "
    "=HYPERLINK(...)). Remove that character, or the cell, and try again."
)


def _quoted(value: str, limit: int) -> str:
    """The cell in quotes for an error message, unless it may be personal data (an address in the wrong column)."""
    return "" if "@" in value else f" “{value[:limit]}”"


# A file's sources are a handful of values repeated on every row: each is checked once.
_source_problem = lru_cache(maxsize=256)(CONSENT_SOURCE.problem)


@lru_cache(maxsize=64)
def _basis(value: str) -> str | None:
    return BASES.get("".join(ch for ch in value.lower() if ch.isalnum()) or "consent")


# How many cell texts of one attribute column the checker remembers the value of, and the longest it remembers
# (longer ones rarely repeat): at most about 5 MB a column.
VALUES_READ_MAX = 50_000
VALUE_READ_LENGTH_MAX = 64
_UNREAD = object()


class RowChecker:
    """Checks rows against the topics and policy versions that exist when the import starts."""

    def __init__(self, *, positions: dict[str, int], columns: list[str], options: ImportOptions):
        self.positions = positions
        self.columns = columns
        self.options = options
        self.now = timezone.now()
        self._now_microseconds = _microseconds(self.now)
        self._hmac = AddressHasher()  # raises ImproperlyConfigured without a key: no tombstone would match
        self.topics = {}
        for topic in Topic.objects.all():
            self.topics[topic.slug.lower()] = topic
            self.topics[topic.name.lower()] = topic
        self.versions = {v.version: v for v in PrivacyPolicyVersion.objects.all()}
        self._published_microseconds = {v.pk: _microseconds(v.published_at) for v in self.versions.values()}
        if options.policy_version and options.policy_version not in self.versions:
            raise ImportMappingError(
                f"There is no privacy policy version “{options.policy_version}”; the versions are "
                f"{', '.join(sorted(self.versions)) or 'none yet'}."
            )
        if options.source and (problem := CONSENT_SOURCE.problem(options.source)):
            raise ImportMappingError(f"The consent source for the whole file {problem}")
        if options.topic is not None and not options.topic.is_active:
            raise ImportMappingError(f"The topic “{options.topic.name}” is inactive.")
        self.width = len(columns)
        # The cells of every field in FIELDS order; an unmapped field reads the empty cell appended to each row.
        self.fields = tuple(FIELDS)
        self.getter = itemgetter(*(positions.get(name, self.width) for name in self.fields))
        # The attribute columns: (attribute, position, the file's column name), in the order they are staged.
        keys = {name[len(ATTRIBUTE_FIELD) :]: position for name, position in positions.items()
                if name.startswith(ATTRIBUTE_FIELD)}
        found = {a.key: a for a in Attribute.objects.filter(key__in=keys)}
        if unknown := sorted(set(keys) - set(found)):
            raise ImportMappingError(
                f"There is no attribute “{unknown[0]}”; declare it first, or leave its column out."
            )
        self.attribute_cells = [(found[key], position, columns[position]) for key, position in sorted(keys.items())]
        self.attributes = [attribute for attribute, _, _ in self.attribute_cells]
        # Per attribute column, each cell text already read and its value (see ``_attribute_values``).
        self._values_read = [{} for _ in self.attribute_cells]

    def _label(self, name: str) -> str:
        index = self.positions.get(name)
        return self.columns[index] if index is not None else FIELDS[name]

    def check(self, line: int, cells: list[str]) -> tuple[tuple | None, list[tuple[int, str, str]]]:
        width = self.width
        cells = cells[:width] if len(cells) >= width else cells + [""] * (width - len(cells))
        cells.append("")
        # Trimmed before the formula check: a spreadsheet ignores the spaces before "=HYPERLINK(...)" too.
        raw = tuple(map(str.strip, self.getter(cells)))
        for value in raw:
            if value.startswith(FORMULA_START):
                formulas = [
                    (line, self._label(name), FORMULA_PROBLEM)
                    for name, value in zip(self.fields, raw, strict=True)
                    if value.startswith(FORMULA_START) and not (name == "email" and signed_plain_address(value))
                ]
                if formulas:
                    return None, formulas
                break
        email_raw, first_name, topic_raw, basis_raw, source, date_raw, wording, version_name, order = raw
        errors: list[tuple[int, str, str]] = []
        error = errors.append

        email, email_key, email_alt = self._address(email_raw)
        if email is None:
            error((line, self._label("email"), "is not a valid email address." if email_raw else "is empty."))
        # The same rules as every form's (subscribers.fieldrules): a name the registration form refuses is a row error.
        first_name = FIRST_NAME.normalise(first_name)
        if problem := FIRST_NAME.problem(first_name):
            error((line, self._label("first_name"), problem))
        topic = self._topic(topic_raw, line, error)
        basis = _basis(basis_raw)
        if basis is None:
            error((line, self._label("lawful_basis"), "must be “consent” or “soft_opt_in”."))
        source = source or self.options.source
        if problem := _source_problem(source):
            error((line, self._label("consent_source"), problem))
        consented = consented_at = None
        consented_microseconds = self._now_microseconds
        if date_raw:
            consented = _parse_date(date_raw)
            if consented is None:
                error((line, self._label("consent_date"), "is not a date (use 2024-05-31 or 31/05/2024)."))
            else:
                consented_at, consented_microseconds = consented.moment, consented.microseconds
                if consented_microseconds > self._now_microseconds:
                    error((line, self._label("consent_date"), "is in the future."))
        version_name = version_name or self.options.policy_version
        version = self.versions.get(version_name) if version_name else None
        if version_name and version is None:
            error((line, self._label("policy_version"), f"names no privacy policy version{_quoted(version_name, 20)}."))
        elif version is not None and self._published_microseconds[version.pk] > consented_microseconds:
            # Consent is evidence only under a policy the person could have read: one in force when they gave it.
            error(
                (
                    line,
                    self._label("policy_version"),
                    f"names privacy policy version “{version.version}”, which took effect on "
                    f"{version.published_at:%Y-%m-%d}, after the consent {'date' if consented_at else 'was recorded'}.",
                )
            )
        if order and (problem := ORDER_REFERENCE.problem(order)):
            error((line, self._label("order_reference"), problem))

        if basis == LawfulBasis.CONSENT and not (source and date_raw and (wording or version_name)):
            missing = [
                label
                for label, present in (
                    ("consent source", source),
                    ("consent date", date_raw),
                    ("consent wording or privacy policy version", wording or version_name),
                )
                if not present
            ]
            first = "consent_source" if not source else "consent_date" if not date_raw else "consent_wording"
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
        values = self._attribute_values(line, cells, error) if self.attribute_cells else ()
        if errors:
            return None, errors

        if wording:
            hashed = _wording_hash(wording)
        elif version is not None:
            hashed = _wording_hash(version.text)
        else:
            hashed = ""
        detail = f"source: {source}"
        if consented_at is not None:
            detail += f"; consent date: {consented.day}"
        if order:
            detail += f"; order: {order}"
        return (
            line,
            email,
            email_key,
            email_alt,
            self._hmac(email),
            self._hmac(email_alt) if email_alt else None,
            first_name,
            topic.id,
            basis,
            consented_at,
            version.pk if version is not None else None,
            hashed,
            detail[:255],
            *values,
        ), errors

    def _attribute_values(self, line: int, cells: list[str], error) -> list:
        """Each attribute cell parsed by the parser the admin and the API use; None for an empty cell (which
        leaves the value someone holds alone).

        A column's cells repeat (a tier, a country, a birthday, an amount): the value of a cell text read once is
        remembered (texts of up to VALUE_READ_LENGTH_MAX characters, VALUES_READ_MAX of them a column), and the
        same text later takes it without being parsed again. Only values are remembered, never problems: a refused
        cell is checked, and reported, every time. The parser's result depends on the text and on the attribute as
        this checker loaded it, the same for every row, as before."""
        values = []
        for (attribute, position, label), read in zip(self.attribute_cells, self._values_read, strict=True):
            raw = cells[position].strip()
            value = read.get(raw, _UNREAD)
            if value is not _UNREAD:
                values.append(value)
                continue
            # A plain negative number is no formula: "-12.5" in a number column is what it says.
            if raw.startswith(FORMULA_START) and not (
                attribute.type == AttributeType.NUMBER and NUMBER_PATTERN.fullmatch(raw)
            ):
                error((line, label, FORMULA_PROBLEM))
                values.append(None)
                continue
            try:
                value = attribute_value_parse(attribute, raw)
            except AttributeValueProblem as problem:
                error((line, label, problem.without_value))  # never the cell's value: errors are kept
                values.append(None)
                continue
            if len(raw) <= VALUE_READ_LENGTH_MAX and len(read) < VALUES_READ_MAX:
                read[raw] = value
            values.append(value)
        return values

    def _topic(self, value: str, line: int, error) -> Topic | None:
        if not value:
            if self.options.topic is None:
                error((line, self._label("topic"), "is empty, and no topic was chosen for the whole file."))
            return self.options.topic
        topic = self.topics.get(value.lower())
        if topic is None:
            error((line, self._label("topic"), f"names no topic{_quoted(value, 40)} (use a topic's slug or name)."))
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
            local_key, _, domain_key = key.rpartition("@")
            if not (USER_RE.match(local_key) and DOMAIN_RE.match(domain_key)):
                validate_email(key)  # the rarer forms it accepts (a domain literal), and the rest refused
        except (UnicodeError, ValidationError):
            return None, None, None
        return email, key, alt
