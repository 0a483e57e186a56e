"""The demo's welcome series: three published emails written with the campaign blocks, on General Subscription,
active, and seeded again without a second copy."""

import pytest
from django.core.management import call_command

from automations.models import Automation, AutomationState, AutomationTrigger
from automations.pages import automation_email_index
from campaigns.authoring.rendering import campaign_render

pytestmark = pytest.mark.django_db


def test_seed_automations_makes_an_active_three_email_welcome_series_once_with_the_wait_it_is_given(settings):
    call_command("seed_automations", "--wait-seconds", "90")
    call_command("seed_automations", "--wait-seconds", "120")

    automation = Automation.objects.get()
    assert automation.name == "Welcome series" and automation.state == AutomationState.ACTIVE
    assert automation.trigger == AutomationTrigger.TOPIC_CONFIRMED and automation.topic.is_default
    steps = list(automation.steps.order_by("position"))
    assert [step.kind for step in steps] == ["email", "wait", "email", "wait", "email"]
    assert [step.wait_seconds for step in steps if step.kind == "wait"] == [120, 120]
    emails = [step.email for step in steps if step.kind == "email"]
    assert all(email.live and email.get_parent().pk == automation_email_index().pk for email in emails)
    rendered = campaign_render(page=emails[1])
    assert "how we choose our stones" in rendered.subject_source
    assert "Stones we would wear ourselves" in rendered.html_source and "Hard enough for a ring" in rendered.html_source


def test_the_demo_runs_workers_for_every_queue_the_settings_route_to_automations_included(settings):
    from newsletter.demo import WORKERS

    consumed = {queue for _name, queues, _processes in WORKERS for queue in queues.split(",")}
    assert set(settings.TASK_QUEUE_NAMES) <= consumed
    assert ("automations", "automations", 2) in WORKERS
