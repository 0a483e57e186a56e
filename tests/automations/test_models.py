"""The data model of automations: the email index, email pages authored like campaigns, steps and runs."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone

from automations.models import (
    AutomationEmailIndexPage,
    AutomationRun,
    AutomationStep,
    StepKind,
)
from campaigns.models import CampaignPage, EmailPage
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_the_migrations_make_one_index_page_for_automation_emails_under_the_root():
    index = AutomationEmailIndexPage.objects.get()

    assert index.depth == 2
    assert index.get_parent().is_root()
    assert not AutomationEmailIndexPage.can_create_at(index.get_parent()), "there is only ever one"


def test_an_automation_email_is_an_email_page_and_never_served(welcome_emails):
    page = welcome_emails[0]

    assert isinstance(page, EmailPage) and not isinstance(page, CampaignPage)
    with pytest.raises(Http404):
        page.serve(RequestFactory().get("/"))


def test_an_automation_email_previews_and_checks_like_a_campaign(welcome_series):
    page = welcome_series.steps.get(position=1).email

    email = page.serve_preview(RequestFactory().get("/"), "email").content.decode()
    checks = page.serve_preview(RequestFactory().get("/"), "checks").content.decode()

    assert "Part 1 of our welcome." in email
    assert "Welcome 1, Ada" in email  # the sample reader's first name merged into the subject
    assert "Workshop news" in email  # the footer names the topic of the automation that sends it
    assert "Unsubscribe link" in checks


def test_an_automation_email_is_validated_like_a_campaign(welcome_emails):
    page = welcome_emails[0]
    page.sender = "someone@elsewhere.example"

    with pytest.raises(ValidationError) as err:
        page.full_clean()

    assert "sender" in err.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": StepKind.WAIT}, "wait_seconds"),
        ({"kind": StepKind.WAIT, "wait_seconds": 60, "wait_weekday": 1, "wait_hour": 9}, "wait_seconds"),
        ({"kind": StepKind.WAIT, "wait_weekday": 1}, "wait_weekday"),
        ({"kind": StepKind.EMAIL}, "email"),
        ({"kind": StepKind.CONDITION}, "segment"),
        ({"kind": StepKind.STOP, "wait_seconds": 60}, "wait_seconds"),
    ],
)
def test_each_kind_of_step_has_exactly_its_own_fields(welcome_series, fields, field):
    step = AutomationStep(automation=welcome_series, position=9, **fields)

    with pytest.raises(ValidationError) as err:
        step.clean()

    assert field in err.value.message_dict


def test_a_wait_until_a_weekday_and_hour_is_a_valid_step(welcome_series):
    AutomationStep(automation=welcome_series, position=9, kind=StepKind.WAIT, wait_weekday=0, wait_hour=9).clean()


def test_a_person_enters_an_automation_once_per_occurrence(welcome_series):
    subscriber = SubscriberFactory()
    AutomationRun.objects.create(automation=welcome_series, subscriber=subscriber, due_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        AutomationRun.objects.create(automation=welcome_series, subscriber=subscriber, due_at=timezone.now())
    AutomationRun.objects.create(
        automation=welcome_series, subscriber=subscriber, due_at=timezone.now(), occurrence="2027"
    )
