"""The rules for text that people and staff type in, one rule per field, in one place.

Every way in applies the same rule to the same field: the forms (``RuleFieldsMixin``), the CSV import's row check
(``TextRule.problem``, reported as a row error naming the line and column) and the services that store the value
(``TextRule.require``), so a first name that the registration form refuses cannot come in through an import or,
later, the API. A field's length here is its column's length in the database.

What every rule refuses: NUL and the other control characters (which no name, address or note contains, and which
PostgreSQL cannot store in the case of NUL), and more than the column holds. A single-line rule also refuses line
breaks (CR, LF, and Unicode's line and paragraph separators): a name with a line break in it breaks every email
header, CSV export and log line it is written into. A multi-line rule allows line breaks and tabs. And every rule
refuses U+FFFD, the character Django puts where a request's bytes were not UTF-8: a browser never sends them, and
text so damaged is not what the person typed.
"""

import unicodedata
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError

from .errors import FormFieldError

LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
MULTILINE_ALLOWED = frozenset("\r\n\t")


class FieldRuleError(FormFieldError):
    """A value breaks its field's rule; ``field`` names the field, the message says how."""


@dataclass(frozen=True)
class TextRule:
    """One field's rule: its name as people see it, the most characters it may hold, whether it may span lines."""

    label: str
    max_length: int | None
    multiline: bool = False

    def normalise(self, value: str | None) -> str:
        """The value as stored: Unicode NFC (one spelling of "é"), without spaces at either end."""
        return unicodedata.normalize("NFC", value or "").strip()

    def problem(self, value: str) -> str | None:
        """What is wrong with ``value``, in words that follow the field's name ("is longer than 150 characters."),
        or None when it keeps the rule. Never quotes the value: it may be someone's personal data."""
        if value.isprintable() and "\ufffd" not in value:  # the usual case, in C: no control character or break
            return self._length_problem(value)
        if "\x00" in value:
            return "contains a NUL character, which text cannot hold."
        if "\ufffd" in value:
            return "contains bytes that are not UTF-8 text; type it again."
        if not self.multiline and any(ch in LINE_BREAKS for ch in value):
            return "must be on one line: it contains a line break."
        allowed = MULTILINE_ALLOWED if self.multiline else frozenset()
        if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
            return "contains control characters that cannot be used."
        return self._length_problem(value)

    def _length_problem(self, value: str) -> str | None:
        if self.max_length is not None and len(value) > self.max_length:
            return f"is longer than {self.max_length} characters."
        return None

    def clean(self, value: str | None) -> str:
        """The normalised value, or ValidationError naming the field (for forms)."""
        value = self.normalise(value)
        problem = self.problem(value)
        if problem:
            raise ValidationError(f"{self.label} {problem}", code="field_rule")
        return value

    def require(self, value: str | None, *, field: str) -> str:
        """The normalised value, or FieldRuleError naming ``field`` (for services, whatever called them)."""
        value = self.normalise(value)
        problem = self.problem(value)
        if problem:
            raise FieldRuleError(f"{self.label} {problem}", field=field)
        return value


# People's details: registration, Account Home's details, the public sign-up, the CSV import.
FIRST_NAME = TextRule("First name", 150)
LAST_NAME = TextRule("Last name", 150)
ADDRESS_LINE1 = TextRule("Address line 1", 100)
ADDRESS_LINE2 = TextRule("Address line 2", 100)
TOWN = TextRule("Town or city", 60)
COUNTY = TextRule("County", 60)
# Consent evidence: the import's cells and its whole-file value (stored in the consent event's detail).
CONSENT_SOURCE = TextRule("Consent source", 100)
ORDER_REFERENCE = TextRule("Order reference", 64)
# Hashed, never stored: a consent wording may run over several lines.
CONSENT_WORDING = TextRule("Consent wording", None, multiline=True)
# What someone unsubscribing adds in their own words (stored in the consent event's detail).
UNSUBSCRIBE_REASON = TextRule("Your reason", 200)
# Staff's text in the admin.
RIGHTS_NOTE = TextRule("Note", 255)
RIGHTS_OUTCOME = TextRule("Outcome", 255)
PARTNER_NAME = TextRule("Name", 150)
PARTNER_PURPOSE = TextRule("Purpose", 255)
CONTRACT_REFERENCE = TextRule("Contract reference", 100)
# The summary's spaces and line breaks are run together into one line first; its length has a message of its own.
POLICY_SUMMARY = TextRule("The summary", None)
POLICY_TEXT = TextRule("The policy text", None, multiline=True)

# A person's details, by the name of the form field, the model field and the service's argument (all the same).
PERSON_RULES = {
    "first_name": FIRST_NAME,
    "last_name": LAST_NAME,
    "address_line1": ADDRESS_LINE1,
    "address_line2": ADDRESS_LINE2,
    "town": TOWN,
    "county": COUNTY,
}


def values_require(values: dict[str, str], rules: dict[str, TextRule]) -> dict[str, str]:
    """``values`` with each one that has a rule in ``rules`` normalised; FieldRuleError for the first that breaks
    its rule. For services, which must not trust that a form checked what they are given."""
    return {name: rules[name].require(value, field=name) if name in rules else value for name, value in values.items()}


class RuleFieldsMixin:
    """For a form: ``field_rules`` maps field names to their rules, applied after the fields' own checks, each
    error shown beside its field."""

    field_rules: dict[str, TextRule] = {}

    def clean(self):
        cleaned = super().clean()
        for name, rule in self.field_rules.items():
            if isinstance(cleaned.get(name), str):
                try:
                    cleaned[name] = rule.clean(cleaned[name])
                except forms.ValidationError as err:
                    self.add_error(name, err)
        return cleaned
