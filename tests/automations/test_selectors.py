"""What an automation's page reads: people at each step and each email's results, under the privacy floor."""

import pytest

from automations.selectors import automation_email_results, automation_outcomes, automation_step_counts
from automations.worker import automations_work
from tests.automations.conftest import confirm
from tests.factories import ConfirmedSubscriberFactory

pytestmark = pytest.mark.django_db


def test_people_at_each_step_and_an_emails_results_hide_groups_under_five(active_series, topic):
    people = [ConfirmedSubscriberFactory() for _ in range(6)]
    for person in people[:5]:
        confirm(person, topic)
    automations_work()
    confirm(people[5], topic)  # one more, not yet taken: at the first step

    rows = automation_step_counts(automation=active_series)
    counts = [(row["step"].position, row["at"], row["at_shown"]) for row in rows]
    results = automation_email_results(step=active_series.steps.get(position=1))

    assert counts == [(1, 1, "<5"), (2, 0, "0"), (3, 5, "5"), (4, 0, "0"), (5, 0, "0")]
    assert results["counts"]["sent"] == "5"
    assert results["counts"]["failed"] == "0"
    assert results["rates"]["delivered"]["shown"] == "0%"
    assert automation_outcomes(automation=active_series) == {}
