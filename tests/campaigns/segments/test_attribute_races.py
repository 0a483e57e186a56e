"""A segment saved, or a send started, at the same moment as an attribute it names is deleted, or a choice it names
removed (two sessions, PostgreSQL's row locks): one of the two waits for the other and then sees it, so no segment or
send's copy is left naming something gone. An import writing values of the attribute meanwhile holds nobody up."""

import threading
import time

import pytest
from django.db import connection, transaction

from campaigns.models import Send, SendState
from campaigns.segments.errors import SegmentError
from campaigns.segments.models import Segment
from campaigns.segments.services import segment_create
from campaigns.sending.services import send_create, send_start
from subscribers.models import Attribute, AttributeType
from subscribers.services.attributes import AttributeUsed, attribute_delete, attribute_update
from subscribers.services.imports.references import _attributes_lock
from tests.campaigns.segments.conftest import small_campaign
from tests.factories import PRIVACY_OFFICERS, staff_in_role

pytestmark = [
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's row locks"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),  # brings back the rows migrations made
]

PLATINUM = {"all": [{"field": "attribute:finish", "op": "equals", "value": "platinum"}]}


@pytest.fixture
def finish() -> Attribute:
    return Attribute.objects.create(key="finish", label="Finish", type=AttributeType.CHOICE,
                                    choices=["gold", "platinum"])


@pytest.fixture
def officer():
    return staff_in_role(PRIVACY_OFFICERS, "races@jeweller.example")


def _in_other_session(target) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a thread of its own (its own database session); what it returns or raises goes in the dict."""
    outcome = {}

    def run():
        try:
            outcome["returned"] = target()
        except Exception as err:  # the test asserts which
            outcome["raised"] = err
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until_blocked(thread: threading.Thread) -> bool:
    """Whether the other session came to wait on a lock this one holds (False if it finished without waiting)."""
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("change", ["delete the attribute", "remove the choice"])
def test_a_segment_saved_first_keeps_what_it_names_from_a_change_made_meanwhile(finish, officer, change):
    def changed():
        if change == "delete the attribute":
            return attribute_delete(attribute=finish, actor=officer)
        return attribute_update(attribute=finish, choices=["gold"], actor=officer)

    with transaction.atomic():
        segment_create(name="Platinum", definition=PLATINUM)
        # Saved, not committed: the attribute is changed from another session meanwhile
        thread, outcome = _in_other_session(changed)
        blocked = _wait_until_blocked(thread)
    thread.join(timeout=30)

    assert blocked, f"the attempt to {change} did not wait for the segment"
    assert isinstance(outcome.get("raised"), AttributeUsed), outcome
    assert "the segment “Platinum”" in str(outcome["raised"])
    assert Attribute.objects.get(key="finish").choices == ["gold", "platinum"]


@pytest.mark.parametrize("change", ["delete the attribute", "remove the choice"])
def test_a_segment_saved_while_a_change_is_made_waits_for_it_and_is_refused(finish, officer, change):
    with transaction.atomic():
        if change == "delete the attribute":
            attribute_delete(attribute=finish, actor=officer)
        else:
            attribute_update(attribute=finish, choices=["gold"], actor=officer)
        # Changed, not committed: a segment naming it is saved from another session meanwhile
        thread, outcome = _in_other_session(lambda: segment_create(name="Platinum", definition=PLATINUM))
        blocked = _wait_until_blocked(thread)
    thread.join(timeout=30)

    assert blocked, f"the segment was saved without waiting for the attempt to {change}"
    assert isinstance(outcome.get("raised"), SegmentError), outcome
    assert not Segment.objects.filter(name="Platinum").exists()


def test_a_segment_saved_while_an_import_writes_values_of_its_attribute_does_not_wait_for_it(finish):
    with transaction.atomic(), connection.cursor() as cursor:
        _attributes_lock(cursor, [finish])  # as an import holds the attributes it writes, until it commits
        thread, outcome = _in_other_session(lambda: segment_create(name="Platinum", definition=PLATINUM))
        blocked = _wait_until_blocked(thread)
        thread.join(timeout=30)
        finished_during_the_import = not thread.is_alive()

    assert not blocked and finished_during_the_import, "the segment waited for the import"
    assert outcome["returned"].name == "Platinum"


def test_a_send_started_while_its_segment_is_changed_and_an_attribute_deleted_waits_and_uses_the_segment_now(
    finish, officer
):
    campaign = small_campaign("platinum-news")
    campaign.segment = segment = segment_create(name="Platinum", definition=PLATINUM)
    campaign.save_revision().publish()
    draft = send_create(page=campaign)
    recent = {"all": [{"field": "signed_up", "op": "within_days", "value": 30}]}

    with transaction.atomic():
        # The segment is changed to name the attribute no more, and the attribute deleted; neither is committed, so
        # the send started from another session meanwhile reads the segment as it was, naming the attribute
        Segment.objects.filter(pk=segment.pk).update(definition=recent)
        attribute_delete(attribute=finish, actor=officer)
        thread, outcome = _in_other_session(lambda: send_start(send=draft))
        blocked = _wait_until_blocked(thread)
    thread.join(timeout=30)

    # It waited for the delete, then read the segment again: its copy is the segment as it is now
    assert blocked, "the send started without waiting for the delete"
    assert "raised" not in outcome, outcome
    send = Send.objects.get(pk=draft.pk)
    assert send.state != SendState.DRAFT and send.segment_definition == recent
