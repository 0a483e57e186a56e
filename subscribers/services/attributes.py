"""Attributes: declaring what staff record about subscribers, and setting each person's values.

Declaring, changing and deleting an attribute need the model permissions on ``Attribute`` (add, change, delete);
setting someone's values needs ``subscribers.change_attributevalue``. Each checks the permission of the person
acting and writes the audit log with them, naming the attribute's key and never a person's value. Values are
checked by ``subscribers.attributevalues``, the parser the CSV import uses too, and set all or nothing.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..attribute_users import attribute_users
from ..attributevalues import COLUMN, AttributeValueProblem, attribute_value_parse, stored_value
from ..audit import SUBSCRIBER_LOG
from ..fieldrules import TextRule
from ..models import Attribute, AttributeType, AttributeValue, Subscriber
from ..models.attributes import ATTRIBUTE_KEY_RULE
from ..permissions import ATTRIBUTE_ADD, ATTRIBUTE_CHANGE, ATTRIBUTE_DELETE, ATTRIBUTE_VALUES_CHANGE, actor_require
from ..selectors import marketing_stopped
from .errors import FormFieldError

ATTRIBUTE_LABEL = TextRule("The label", 100)
CHOICE = TextRule("A choice", 255)
MAX_CHOICES = 200
USERS_NAMED_MAX = 5  # a refused delete names at most this many of the things that use the attribute, then "N more"


class AttributeDeclarationError(FormFieldError):
    """An attribute cannot be declared, changed or deleted as asked; ``field`` names the form field at fault."""


class AttributeInUse(AttributeDeclarationError):
    """The change would remove values people hold: ``count`` of them. Nothing was changed."""

    def __init__(self, message: str, *, count: int, field: str | None = None):
        super().__init__(message, field=field)
        self.count = count


class AttributeUsed(AttributeDeclarationError):
    """A segment, a send or an automation uses the attribute, or a choice of it (``uses`` names each): it cannot be
    deleted, nor the choice removed. Nothing was changed."""

    def __init__(self, message: str, *, uses: list[str], field: str | None = None):
        super().__init__(message, field=field)
        self.uses = uses


class AttributeValuesInvalid(FormFieldError):
    """One or more values cannot be stored: ``problems`` maps each key to what is wrong with its value
    ("birthday: '31/02/1990' is not a date (use YYYY-MM-DD)"). ``field`` is the first as ``attributes.<key>``,
    the path the API reports. Nothing was changed."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        first = next(iter(problems))
        message = " ".join(f"{key}: {problem}" for key, problem in problems.items())
        super().__init__(message, field=f"attributes.{first}")

    @property
    def fields(self) -> dict[str, list[str]]:
        return {f"attributes.{key}": [f"{key}: {problem}"] for key, problem in self.problems.items()}


class AttributeValuesSuppressed(AttributeValuesInvalid):
    """New values for someone whose address is suppressed for marketing (unsubscribed from everything, erased,
    bounced, complained, suppressed by staff): none is kept, as an import keeps none. ``problems`` names each key
    that held no value. Nothing was changed."""


SUPPRESSED_NEW_VALUE = (
    "not kept: this address is suppressed for marketing email (unsubscribed from everything, erased, bounced or "
    "complained), so no new value is kept for it, as an import keeps none. A value the person holds may still be "
    "corrected or cleared; new ones once they subscribe again."
)


def _log(*, attribute: Attribute, action: str, actor, data: dict) -> None:
    SUBSCRIBER_LOG.write(instance=attribute, action=action, user=actor, data=data, title=f"Attribute {attribute.key}")


def _label_require(label: str) -> str:
    label = ATTRIBUTE_LABEL.require(label, field="label")
    if not label:
        raise AttributeDeclarationError("Give the attribute a label: it is what staff see.", field="label")
    return label


def _choices_require(type: str, choices) -> list[str]:
    """The choices of a "one of a list" attribute, normalised; none for the other types."""
    choices = [CHOICE.require(choice, field="choices") for choice in (choices or [])]
    choices = [choice for choice in choices if choice]
    if type != AttributeType.CHOICE:
        if choices:
            raise AttributeDeclarationError("Only an attribute of type “one of a list” has choices.", field="choices")
        return []
    if not choices:
        raise AttributeDeclarationError("Give at least one choice, one a line.", field="choices")
    if len(choices) > MAX_CHOICES:
        raise AttributeDeclarationError(f"At most {MAX_CHOICES} choices.", field="choices")
    seen = {}
    for choice in choices:
        if choice.casefold() in seen:
            raise AttributeDeclarationError(
                f"“{choice}” is in the list twice (choices are matched in any case).", field="choices"
            )
        seen[choice.casefold()] = choice
    return choices


def attribute_declare(
    *, key: str, label: str, type: str, choices: list[str] | None = None, position: int = 0, actor
) -> Attribute:
    """Declare an attribute: its key (a CSV column and an API field, never changed afterwards), label, type and,
    for "one of a list", its choices. Raises AttributeDeclarationError naming the field at fault."""
    actor_require(actor, ATTRIBUTE_ADD, action="declare attributes")
    key = (key or "").strip()
    try:
        ATTRIBUTE_KEY_RULE(key)
    except ValidationError as err:
        raise AttributeDeclarationError(f"The key {key!r} cannot be used. {err.messages[0]}", field="key") from err
    if type not in AttributeType.values:
        raise AttributeDeclarationError(
            f"The type must be one of {', '.join(AttributeType.values)}.", field="type"
        )
    label = _label_require(label)
    choices = _choices_require(type, choices)
    try:
        with transaction.atomic():
            attribute = Attribute.objects.create(
                key=key, label=label, type=type, choices=choices, position=position or 0
            )
            _log(
                attribute=attribute,
                action="subscribers.attribute_declare",
                actor=actor,
                data={"key": key, "label": label, "type": type, "choices": choices},
            )
    except IntegrityError as err:
        raise AttributeDeclarationError(f"There is already an attribute with the key “{key}”.", field="key") from err
    return attribute


def attribute_update(
    *, attribute: Attribute, label: str | None = None, position: int | None = None, choices=None, actor
) -> Attribute:
    """Change an attribute's label, position or choices (its key and type stay: files, API clients and segments
    name them). Removing a choice that people hold is refused with their count (AttributeInUse): change their
    values first; one that a segment names is refused naming it (AttributeUsed). Arguments left None are not
    changed."""
    actor_require(actor, ATTRIBUTE_CHANGE, action="change attributes")
    with transaction.atomic():
        attribute = Attribute.objects.select_for_update().get(pk=attribute.pk)
        changed = {}
        if label is not None and (label := _label_require(label)) != attribute.label:
            changed["label"] = label
        if position is not None and position != attribute.position:
            changed["position"] = position
        if choices is not None:
            choices = _choices_require(attribute.type, choices)
            removed = [choice for choice in attribute.choices if choice not in choices]
            if removed:
                count = AttributeValue.objects.filter(attribute=attribute, text__in=removed).count()
                if count:
                    names = ", ".join(f"“{choice}”" for choice in removed)
                    raise AttributeInUse(
                        f"{count} subscriber{'s hold' if count != 1 else ' holds'} a choice you removed ({names}). "
                        "Change their values first, or keep the choice.",
                        count=count,
                        field="choices",
                    )
                uses = attribute_users(attribute, choices=removed)
                if uses:
                    described = attribute_uses_described(attribute=attribute, uses=uses, choices=removed)
                    raise AttributeUsed(described, uses=uses, field="choices")
            if choices != attribute.choices:
                changed["choices"] = choices
        if changed:
            for name, value in changed.items():
                setattr(attribute, name, value)
            attribute.save(update_fields=list(changed))
            _log(attribute=attribute, action="subscribers.attribute_update", actor=actor, data=changed)
    return attribute


def attribute_values_count(*, attribute: Attribute) -> int:
    """How many subscribers hold a value of ``attribute``."""
    return AttributeValue.objects.filter(attribute=attribute).count()


def attribute_uses_described(*, attribute: Attribute, uses: list[str], choices=None) -> str:
    """Why ``attribute`` cannot be deleted (or, given ``choices``, why those choices cannot be removed), naming what
    ``uses`` it (``attribute_users``), at most USERS_NAMED_MAX of them."""
    more = len(uses) - USERS_NAMED_MAX
    shown = uses[:USERS_NAMED_MAX] + ([f"{more} more"] if more > 0 else [])
    them = "them" if len(uses) > 1 else "it"
    if choices is None:
        return f"“{attribute.label}” is used by {_listed(shown)}. Change {them} first, then delete the attribute."
    named = ", ".join(f"“{choice}”" for choice in choices)
    return f"A choice you removed ({named}) is named by {_listed(shown)}. Change {them} first, or keep the choice."


def attribute_delete(*, attribute: Attribute, values_confirmed: int = 0, actor) -> int:
    """Delete an attribute with every value of it. When people hold values, ``values_confirmed`` must be their
    count, as shown to the person deleting: otherwise (none confirmed, or more values since) it is refused with
    the count (AttributeInUse). An attribute that a segment, a send still writing its audience or an automation
    uses (``attribute_users``) is not deleted at all (AttributeUsed, naming them). Returns the number of values
    deleted."""
    actor_require(actor, ATTRIBUTE_DELETE, action="delete attributes")
    with transaction.atomic():
        attribute = Attribute.objects.select_for_update().get(pk=attribute.pk)
        uses = attribute_users(attribute)
        if uses:
            raise AttributeUsed(attribute_uses_described(attribute=attribute, uses=uses), uses=uses)
        count = attribute_values_count(attribute=attribute)
        if count and count != values_confirmed:
            raise AttributeInUse(
                f"{count} subscriber{'s hold' if count != 1 else ' holds'} a value of “{attribute.label}”; deleting "
                "the attribute deletes those values too. Confirm to go ahead.",
                count=count,
            )
        _log(
            attribute=attribute,
            action="subscribers.attribute_delete",
            actor=actor,
            data={"key": attribute.key, "values_deleted": count},
        )
        # One DELETE of the values (nothing refers to them), then the attribute.
        AttributeValue.objects.filter(attribute=attribute).delete()
        attribute.delete()
    return count


@dataclass(frozen=True)
class ParsedValues:
    """Values checked against their attributes: ``values`` maps each Attribute to its typed value (None clears)."""

    values: dict[Attribute, object]


def attribute_values_check(*, values: dict) -> ParsedValues:
    """Check ``values`` ({key: raw value}) against the declared attributes without storing anything.
    Raises AttributeValuesInvalid with every problem, by key (an unknown key is one)."""
    if not isinstance(values, dict):
        raise AttributeValuesInvalid({"attributes": "must be an object of attribute keys and values."})
    attributes = {attribute.key: attribute for attribute in Attribute.objects.filter(key__in=list(values))}
    parsed, problems = {}, {}
    for key, raw in values.items():
        attribute = attributes.get(key)
        if attribute is None:
            known = ", ".join(Attribute.objects.values_list("key", flat=True)) or "none yet"
            problems[key] = f"there is no attribute with this key (the attributes are: {known})."
            continue
        try:
            parsed[attribute] = attribute_value_parse(attribute, raw)
        except AttributeValueProblem as err:
            problems[key] = str(err)
    if problems:
        raise AttributeValuesInvalid(problems)
    return ParsedValues(parsed)


def subscriber_attributes_set(
    *, subscriber: Subscriber, values: dict | ParsedValues, actor, source: str
) -> list[str]:
    """Set (or, with None or "", clear) the subscriber's values of the attributes named in ``values``
    ({key: raw value}; others keep theirs). All or nothing: any value that cannot be stored raises
    AttributeValuesInvalid and nothing changes; so does a new value (of a key the person holds none of) for an
    address suppressed for marketing (AttributeValuesSuppressed), as an import keeps none: an erased person's data
    does not come back before they opt in again. Logged with the actor, ``source`` ("admin", "api") and the keys
    changed, never the values. Returns the keys whose value changed."""
    actor_require(actor, ATTRIBUTE_VALUES_CHANGE, action="change subscribers' attribute values")
    parsed = values if isinstance(values, ParsedValues) else attribute_values_check(values=values)
    if not parsed.values:
        return []
    now = timezone.now()
    with transaction.atomic():
        # The subscriber's row lock: two changes of one person's values are made one after the other.
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        current = {
            row.attribute_id: row
            for row in AttributeValue.objects.filter(
                subscriber=subscriber, attribute__in=list(parsed.values)
            ).select_related("attribute")
        }
        cleared, stored, changed, new = [], [], [], []
        for attribute, value in parsed.values.items():
            row = current.get(attribute.pk)
            if value is None:
                if row is not None:
                    cleared.append(row.pk)
                    changed.append(attribute.key)
                continue
            if row is not None and stored_value(row) == value:
                continue
            if row is None:
                new.append(attribute.key)
            stored.append(
                AttributeValue(
                    subscriber=subscriber, attribute=attribute, updated_at=now, **{COLUMN[attribute.type]: value}
                )
            )
            changed.append(attribute.key)
        if new and marketing_stopped(email=subscriber.email):
            raise AttributeValuesSuppressed({key: SUPPRESSED_NEW_VALUE for key in new})
        if cleared:
            AttributeValue.objects.filter(pk__in=cleared).delete()
        if stored:
            AttributeValue.objects.bulk_create(
                stored,
                update_conflicts=True,
                unique_fields=["subscriber", "attribute"],
                update_fields=["text", "number", "date", "boolean", "updated_at"],
            )
        if changed:
            SUBSCRIBER_LOG.write(
                instance=subscriber,
                action="subscribers.attributes_set",
                user=actor,
                data={"attributes": sorted(changed), "source": source},
                title=f"Subscriber {subscriber.public_id}",
            )
    return sorted(changed)


def subscriber_attributes_offer(*, subscriber: Subscriber, values: ParsedValues, actor, source: str) -> list[str]:
    """``subscriber_attributes_set`` for a sign-up: a new value that an address suppressed for marketing may not be
    given is left out instead of refusing them all, so the sign-up goes ahead (its double opt-in) without it, as an
    import's row does. Returns the keys left out (none when all were kept)."""
    try:
        subscriber_attributes_set(subscriber=subscriber, values=values, actor=actor, source=source)
    except AttributeValuesSuppressed as refused:
        kept = {attribute: value for attribute, value in values.values.items() if attribute.key not in refused.problems}
        subscriber_attributes_set(subscriber=subscriber, values=ParsedValues(kept), actor=actor, source=source)
        return list(refused.problems)
    return []


def _listed(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
