"""Reads over a segment: how many people it selects, and a few of them (the editor's live count and sample); what
uses an attribute; and a definition read with its attributes held."""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import QuerySet

from campaigns.models import Send, SendState
from campaigns.segments.compiler import segment_q
from campaigns.segments.grammar import segment_fields, segment_names, segment_validate
from campaigns.segments.models import Segment
from subscribers.models import Attribute, Subscriber

SAMPLE_MAX = 20


def segment_subscribers(definition) -> QuerySet[Subscriber]:
    """Every subscriber ``definition`` selects (whatever their topics, consent or suppression: the audience of a
    send applies those after the segment). Raises ``SegmentError`` for a definition the grammar refuses."""
    return Subscriber.objects.filter(segment_q(definition))


def segment_count(definition) -> int:
    """How many subscribers ``definition`` selects: one ``SELECT COUNT(*)`` of semi-joins.

    On PostgreSQL, a definition of attribute conditions only is counted with nested loops off, for this one
    statement. The attribute and value columns are correlated (a value such as "Scotland" belongs to one attribute),
    so the planner guesses each condition's matches ten times too low and probes the last condition person by
    person, reading a value row for each; with hash joins it reads each condition's value index once
    (docs/BENCHMARKS.md: 346 ms became about 150 ms over a million people). Other conditions keep the planner's
    own choice: some of them (the sign-up source's "first way in") are fastest as nested loops.
    """
    subscribers = segment_subscribers(definition)
    with segment_count_planning(definition):
        return subscribers.count()


@contextmanager
def segment_count_planning(definition, *, hash_joins: bool | None = None):
    """Inside it, count ``definition`` (checked) as ``segment_count`` does: in a transaction, with nested loops off
    for a definition of attribute conditions only on PostgreSQL. ``hash_joins`` overrides that choice (the
    benchmark compares both)."""
    if hash_joins is None:
        fields = segment_fields(definition)
        hash_joins = bool(fields) and all(name.startswith("attribute:") for name in fields)
    if connection.vendor != "postgresql" or not hash_joins:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_nestloop')")
        before = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_nestloop = off")
        yield
        # Inside a caller's transaction, SET LOCAL would last until that one ends: put it back. (After an error the
        # savepoint's rollback puts it back.)
        cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [before])


def segment_sample(definition, n: int = 5) -> list[Subscriber]:
    """Up to ``n`` (at most 20) subscribers ``definition`` selects, the most recent sign-ups first. Personal data:
    show it only to staff allowed to see subscribers."""
    n = max(0, min(n, SAMPLE_MAX))
    return list(segment_subscribers(definition).order_by("-pk")[:n])


def segment_uses_of_attribute(attribute, choices=None) -> list[str]:
    """The segments whose conditions name ``attribute`` (given ``choices``: compare it with one of them), and the
    sends still writing their audience from a copy of such conditions (registered with
    ``subscribers.attribute_users``: an attribute, or a choice, they use is not deleted)."""

    def names(definition) -> bool:
        return segment_names(definition, field=f"attribute:{attribute.key}", choices=choices)

    uses = [f"the segment “{s.name}”" for s in Segment.objects.order_by("name") if names(s.definition)]
    # A cancelled or ended send writes no more of its audience, whatever its flag says.
    writing = Send.objects.filter(
        state__in=(SendState.SENDING, SendState.PAUSED), audience_complete=False, segment_definition__isnull=False
    ).select_related("page")
    uses += [
        f"the send of “{send.page.title}”, which is still writing its audience"
        for send in writing.order_by("pk")
        if names(send.segment_definition)
    ]
    return uses


def segment_definition_hold(definition) -> dict:
    """``definition`` checked (a refusal takes no lock), in the caller's transaction, with the attributes it names
    held until commit: a segment's save and a send's start take this before they store a definition. An attribute
    deleted, or a choice of it removed, at the same moment (both lock the attribute FOR UPDATE) either waits for
    the save or start and then sees it, or is seen by the check made again under the hold. Held FOR KEY SHARE, the
    weakest lock (the ORM has no way to ask for it): nothing else waits for it, neither other segments, nor values
    being written, nor an import (which holds its attributes FOR SHARE)."""
    cleaned = segment_validate(definition)
    keys = [name.removeprefix("attribute:") for name in segment_fields(cleaned) if name.startswith("attribute:")]
    if keys and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {Attribute._meta.db_table} WHERE key = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608
                [keys],
            )
        cleaned = segment_validate(definition)
    return cleaned
