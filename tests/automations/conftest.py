"""Automations' fixtures: a topic, published emails under the index, an automation built through the services."""

import pytest
from django.conf import settings
from wagtail.rich_text import RichText

from automations.models import Automation, AutomationStep, AutomationTrigger, StepKind
from automations.pages import automation_email_create
from tests.factories import TopicFactory


def email_page(n: int, *, subject: str | None = None):
    return automation_email_create(
        title=f"Welcome {n}",
        subject=subject or f"Welcome {n}, {{{{ first_name|friend }}}}",
        sender=settings.DEFAULT_FROM_EMAIL,
        body=[("text", RichText(f"<p>Part {n} of our welcome.</p>"))],
    )


@pytest.fixture
def topic(db):
    return TopicFactory(name="Workshop news", slug="workshop-news")


@pytest.fixture
def welcome_emails(db):
    return [email_page(n) for n in (1, 2, 3)]


def steps_add(automation: Automation, steps: list[dict]) -> Automation:
    for position, step in enumerate(steps, 1):
        AutomationStep.objects.create(automation=automation, position=position, **step)
    return automation


@pytest.fixture
def welcome_series(db, topic, welcome_emails) -> Automation:
    """Three emails, a day apart: email, wait, email, wait, email."""
    automation = Automation.objects.create(
        name="Welcome series", topic=topic, trigger=AutomationTrigger.TOPIC_CONFIRMED
    )
    first, second, third = welcome_emails
    return steps_add(
        automation,
        [
            {"kind": StepKind.EMAIL, "email": first},
            {"kind": StepKind.WAIT, "wait_seconds": 86400},
            {"kind": StepKind.EMAIL, "email": second},
            {"kind": StepKind.WAIT, "wait_seconds": 86400},
            {"kind": StepKind.EMAIL, "email": third},
        ],
    )


def confirm(subscriber, topic):
    """The person confirms a subscription to ``topic`` (given on the spot by a confirmed address): the trigger."""
    from subscribers.models import ConsentSource
    from subscribers.services import subscription_give

    return subscription_give(subscriber=subscriber, topic=topic, source=ConsentSource.ACCOUNT_PAGE, wording="Yes")


def time_passes(automation) -> None:
    """Every active run of ``automation`` falls due now, as if its wait had passed."""
    from datetime import timedelta

    from django.utils import timezone

    from automations.models import AutomationRun, RunState

    AutomationRun.objects.filter(automation=automation, state=RunState.ACTIVE).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.fixture
def active_series(welcome_series):
    from automations.services import automation_activate

    return automation_activate(automation=welcome_series)
