"""The segment grammar: what a definition may say, checked node by node against a whitelist (docs/segments.md).

A definition is a group: ``{"all": [...]}``, ``{"any": [...]}`` or ``{"none": [...]}``, whose items are groups again
or conditions ``{"field": ..., "op": ..., "value": ...}``. Every field, operator and value is checked here, and
attribute keys, topic slugs and campaigns must exist, before anything is compiled: the compiler only ever sees a
tree this module returned, and turns each operator into an ORM lookup it chose itself, so nothing a user writes
becomes SQL. Errors name the path of the node (``all.2.any.0``) so an editor can point at it.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import date

from campaigns.segments.errors import SegmentError
from subscribers.attributevalues import choice_matching
from subscribers.fieldrules import TextRule
from subscribers.models import Attribute, AttributeType, ConsentSource, Topic

GROUPS = ("all", "any", "none")
# A tree deeper than this, or with more conditions, is not something a person needs, and each condition is a
# subquery: the caps keep a definition's count within the editor's live-count budget.
MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_TEXT = 255
MAX_DAYS = 36500  # a hundred years
MAX_COUNT = 1000
MAX_LIST = 100
MAX_NUMBER = 10**17  # the number column holds 18 digits before the point

ATTRIBUTE_OPS = {
    AttributeType.TEXT: ("equals", "not_equals", "contains", "is_set", "is_not_set"),
    AttributeType.NUMBER: ("equals", "not_equals", "less_than", "greater_than", "is_set", "is_not_set"),
    AttributeType.DATE: ("before", "after", "within_days", "is_set", "is_not_set"),
    AttributeType.BOOLEAN: ("equals", "is_set", "is_not_set"),
    AttributeType.CHOICE: ("equals", "not_equals", "one_of", "is_set", "is_not_set"),
}
ATTRIBUTE_KIND = {
    AttributeType.TEXT: "a text attribute",
    AttributeType.NUMBER: "a number attribute",
    AttributeType.DATE: "a date attribute",
    AttributeType.BOOLEAN: "a yes-or-no attribute",
    AttributeType.CHOICE: "a one-of-a-list attribute",
}
# The fields that are not attributes, with their operators.
FIELD_OPS = {
    "topic": ("subscribed", "not_subscribed"),
    "signed_up": ("before", "after", "within_days"),
    "signup_source": ("equals", "one_of"),
    "account": ("equals",),
    "profile:country": ("equals", "contains"),
    "profile:town": ("equals", "contains"),
    "received": ("campaign", "within_days", "fewer_than"),
}
FIXED_FIELDS = ", ".join(FIELD_OPS)
SIGNUP_SOURCES = tuple(ConsentSource.values)
DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Checked:
    """A definition as checked: the cleaned tree (plain JSON, fit to store) and what its names resolved to."""

    definition: dict
    attributes: dict[str, Attribute] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)


def segment_validate(definition) -> dict:
    """Check ``definition`` against the grammar and return it cleaned (values normalised, nothing else kept).

    Raises ``SegmentError`` naming the path of the first problem found; nothing is changed anywhere.
    """
    return segment_check(definition).definition


def segment_check(definition) -> Checked:
    """``segment_validate``, also returning the attributes and topics the definition names (for the compiler)."""
    checker = _Checker()
    if not isinstance(definition, dict) or len(definition) != 1 or next(iter(definition)) not in GROUPS:
        raise SegmentError("", 'a definition is one group: {"all": [...]}, {"any": [...]} or {"none": [...]}')
    # The whole definition may be "all of nothing", everyone: the segment a new one starts as.
    if definition == {"all": []}:
        return Checked(definition={"all": []})
    cleaned = checker.node(definition, path="", depth=1)
    return Checked(definition=cleaned, attributes=checker.attributes, topics=checker.topics)


def segment_conditions(definition) -> list[dict]:
    """Each condition of a checked ``definition``, in order, wherever it is nested."""
    if "field" in definition:
        return [definition]
    return [condition for item in next(iter(definition.values())) for condition in segment_conditions(item)]


def segment_fields(definition) -> list[str]:
    """The field of each condition in a checked ``definition``, in order (a field named twice appears twice)."""
    return [condition["field"] for condition in segment_conditions(definition)]


def segment_names(definition, *, field: str, choices=None) -> bool:
    """Whether a condition of the checked ``definition`` is on ``field`` and, given ``choices``, compares it with
    one of them (``equals``, ``not_equals``, ``one_of``)."""
    for condition in segment_conditions(definition):
        if condition["field"] != field:
            continue
        if choices is None:
            return True
        value = condition.get("value")
        if set(value if isinstance(value, list) else [value]) & set(choices):
            return True
    return False


class _Checker:
    def __init__(self):
        self.conditions = 0
        self._attributes: dict[str, Attribute] | None = None
        self._topics: dict[str, int] | None = None
        self.attributes: dict[str, Attribute] = {}
        self.topics: dict[str, int] = {}

    def node(self, node, *, path: str, depth: int) -> dict:
        if not isinstance(node, dict):
            raise SegmentError(path, "expected a group or a condition (a JSON object)")
        if "field" in node or "op" in node:
            return self.condition(node, path=path)
        if len(node) != 1 or next(iter(node)) not in GROUPS:
            keys = ", ".join(repr(k) for k in node) or "nothing"
            raise SegmentError(
                path, f"a group has exactly one of all, any, none; a condition has field, op, value (found {keys})"
            )
        kind, items = next(iter(node.items()))
        here = f"{path}.{kind}" if path else kind
        if depth > MAX_DEPTH:
            raise SegmentError(here, f"groups are nested more than {MAX_DEPTH} deep")
        if not isinstance(items, list):
            raise SegmentError(here, "a group holds a list of conditions and groups")
        if not items:
            raise SegmentError(here, "an empty group; add a condition or remove the group")
        return {kind: [self.node(item, path=f"{here}.{i}", depth=depth + 1) for i, item in enumerate(items)]}

    def condition(self, node: dict, *, path: str) -> dict:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise SegmentError(path, f"more than {MAX_CONDITIONS} conditions in one segment")
        unknown = sorted(set(node) - {"field", "op", "value"})
        if unknown:
            raise SegmentError(path, f"unknown key {unknown[0]!r}; a condition has field, op and value")
        name, op = node.get("field"), node.get("op")
        if not isinstance(name, str) or not name:
            raise SegmentError(path, "a condition needs a field")
        if not isinstance(op, str) or not op:
            raise SegmentError(path, f"a condition on {name!r} needs an op")
        if name.startswith("attribute:"):
            value = self.attribute_value(name.removeprefix("attribute:"), op, node.get("value"), path=path)
        elif name in FIELD_OPS:
            ops = FIELD_OPS[name]
            if op not in ops:
                raise SegmentError(path, f"unknown operator {op!r} for {name}; use {', '.join(ops)}")
            value = getattr(self, "field_" + name.replace("profile:", "profile_"))(op, node.get("value"), path=path)
        else:
            raise SegmentError(path, f"unknown field {name!r}; use attribute:<key> or one of {FIXED_FIELDS}")
        cleaned = {"field": name, "op": op}
        if value is not None:
            cleaned["value"] = value
        return cleaned

    # Attributes -------------------------------------------------------------------------------------------------

    def attribute_value(self, key: str, op: str, value, *, path: str):
        if self._attributes is None:
            self._attributes = {a.key: a for a in Attribute.objects.all()}
        attribute = self._attributes.get(key)
        if attribute is None:
            known = ", ".join(sorted(self._attributes)) or "none declared yet"
            raise SegmentError(path, f"unknown attribute {key!r}; attributes: {known}")
        self.attributes[key] = attribute
        ops = ATTRIBUTE_OPS[attribute.type]
        if op not in ops:
            raise SegmentError(
                path, f"unknown operator {op!r} for {ATTRIBUTE_KIND[attribute.type]}; use {', '.join(ops)}"
            )
        if op in ("is_set", "is_not_set"):
            return _nothing(value, path=path, op=op)
        if attribute.type == AttributeType.TEXT:
            return _text(value, path=path)
        if attribute.type == AttributeType.NUMBER:
            return _number(value, path=path)
        if attribute.type == AttributeType.DATE:
            return _days(value, path=path) if op == "within_days" else _date(value, path=path)
        if attribute.type == AttributeType.BOOLEAN:
            return _boolean(value, path=path)
        choices = [str(c) for c in attribute.choices]
        if op == "one_of":
            return _one_of(value, choices, path=path, what=f"{attribute.key}'s choices")
        return _choice(value, choices, path=path, what=f"{attribute.key}'s choices")

    # The other fields ---------------------------------------------------------------------------------------------

    def field_topic(self, op: str, value, *, path: str) -> str:
        if self._topics is None:
            self._topics = dict(Topic.objects.values_list("slug", "pk"))
        if not isinstance(value, str) or value not in self._topics:
            known = ", ".join(sorted(self._topics))
            raise SegmentError(path, f"unknown topic {value!r}; topics: {known}")
        self.topics[value] = self._topics[value]
        return value

    def field_signed_up(self, op: str, value, *, path: str):
        return _days(value, path=path) if op == "within_days" else _date(value, path=path)

    def field_signup_source(self, op: str, value, *, path: str):
        what = "the sign-up sources"
        if op == "one_of":
            return _one_of(value, list(SIGNUP_SOURCES), path=path, what=what)
        return _choice(value, list(SIGNUP_SOURCES), path=path, what=what)

    def field_account(self, op: str, value, *, path: str) -> bool:
        return _boolean(value, path=path)

    def field_profile_country(self, op: str, value, *, path: str) -> str:
        value = _text(value, path=path, limit=60)
        if op == "equals":
            if not re.fullmatch(r"[A-Za-z]{2}", value):
                raise SegmentError(path, f"a country is its two-letter code, such as GB (got {value!r})")
            return value.upper()
        return value

    def field_profile_town(self, op: str, value, *, path: str) -> str:
        return _text(value, path=path, limit=60)

    def field_received(self, op: str, value, *, path: str):
        if op == "within_days":
            return _days(value, path=path)
        if op == "fewer_than":
            if not isinstance(value, dict) or set(value) != {"count", "days"}:
                raise SegmentError(path, 'expected {"count": N, "days": D}: fewer than N campaigns in the last D days')
            count = _whole(value["count"], path=path, low=1, high=MAX_COUNT, what="count")
            return {"count": count, "days": _days(value["days"], path=path)}
        from campaigns.models import CampaignPage  # the page model imports this package's model

        if not _is_int(value) or not CampaignPage.objects.filter(pk=value).exists():
            raise SegmentError(path, f"no campaign with id {value!r}")
        return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nothing(value, *, path: str, op: str) -> None:
    if value is not None:
        raise SegmentError(path, f"{op} takes no value")
    return None


def _text(value, *, path: str, limit: int = MAX_TEXT) -> str:
    """Text as values are stored (``TextRule``: Unicode NFC, no spaces at either end), so that "Scotland " or a
    decomposed "é" asks for the values people hold; what no value can hold (a NUL, a line break) is refused."""
    rule = TextRule("the text", limit)
    cleaned = rule.normalise(value) if isinstance(value, str) else ""
    if not cleaned:
        raise SegmentError(path, f"expected some text (got {value!r}); to match no value, use is_not_set")
    if problem := rule.problem(cleaned):
        raise SegmentError(path, f"the text {problem.rstrip('.')}")
    return cleaned


def _number(value, *, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SegmentError(path, f"expected a number (got {value!r})")
    if abs(value) >= MAX_NUMBER:
        raise SegmentError(path, f"the number is too large (at most {MAX_NUMBER - 1})")
    return value


def _whole(value, *, path: str, low: int, high: int, what: str) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise SegmentError(path, f"expected a whole number of {what} from {low} to {high} (got {value!r})")
    return value


def _days(value, *, path: str) -> int:
    return _whole(value, path=path, low=1, high=MAX_DAYS, what="days")


def _date(value, *, path: str) -> str:
    try:
        if not isinstance(value, str) or not DATE_FORMAT.match(value):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise SegmentError(path, f"expected a date as YYYY-MM-DD (got {value!r})") from None


def _boolean(value, *, path: str) -> bool:
    if not isinstance(value, bool):
        raise SegmentError(path, f"expected true or false (got {value!r})")
    return value


def _choice(value, choices: list[str], *, path: str, what: str) -> str:
    """One of ``choices``, in any case, as declared ("GOLD" is "Gold"): the import, the API and the admin take a
    choice in any case, so a segment does too."""
    if (choice := choice_matching(value, choices)) is not None:
        return choice
    raise SegmentError(path, f"{value!r} is not one of {what}: {', '.join(choices)}")


def _one_of(value, choices: list[str], *, path: str, what: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise SegmentError(path, f"expected a list of 1 to {MAX_LIST} values from {what}")
    chosen = [_choice(item, choices, path=path, what=what) for item in value]
    return sorted(set(chosen), key=chosen.index)
