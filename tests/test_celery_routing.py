"""Tasks go to the queue of their role, so that a long send never holds up a confirmation email or a bounce."""

import pytest
from django.conf import settings

from newsletter import celery_app
from subscribers.tasks import public_signup_task
from tests.celery_workers import queued_tasks

ROLES = {
    "campaigns.tasks.send_work_task": "sends",
    "campaigns.tasks.send_audience_task": "default",
    "campaigns.tasks.feedback_process_task": "feedback",
    "campaigns.tasks.reputation_guard_task": "feedback",
    "subscribers.tasks.transactional_email_send_task": "transactional",
    "subscribers.tasks.public_signup_task": "transactional",
    "subscribers.tasks.password_reset_request_task": "transactional",
    "campaigns.tasks.campaign_test_send_task": "transactional",
    "campaigns.tasks.sends_sweep_task": "default",
    "subscribers.tasks.subscriber_import_task": "default",
    "subscribers.tasks.access_export_task": "default",
    "webhooks.tasks.webhook_deliver_task": "webhooks",
    "webhooks.tasks.webhooks_sweep_task": "webhooks",
    "automations.tasks.automations_work_task": "automations",
    "automations.tasks.automations_tick_task": "automations",
    "automations.tasks.automations_date_triggers_task": "automations",
}


def queue_of(task_name: str, options: dict | None = None) -> str:
    """The queue Celery's router sends a task to, as ``.delay()`` would."""
    return celery_app.amqp.router.route(dict(options or {}), task_name)["queue"].name


def our_tasks() -> list[str]:
    celery_app.loader.import_default_modules()  # what a worker does at start: every app's tasks module
    apps = ("campaigns.", "subscribers.", "webhooks.", "automations.")
    return sorted(name for name in celery_app.tasks if name.startswith(apps))


def test_the_six_queues_are_declared_once_and_unrouted_tasks_go_to_default():
    assert settings.TASK_QUEUE_NAMES == ("sends", "automations", "transactional", "feedback", "webhooks", "default")
    assert [q.name for q in settings.CELERY_TASK_QUEUES] == list(settings.TASK_QUEUE_NAMES)
    assert celery_app.conf.task_default_queue == "default"
    assert set(celery_app.amqp.queues) == set(settings.TASK_QUEUE_NAMES)


def test_every_task_of_ours_goes_to_one_of_the_six_queues():
    names = our_tasks()

    assert set(ROLES) <= set(names), f"tasks not registered: {sorted(set(ROLES) - set(names))}"
    assert {name: queue_of(name) for name in names if queue_of(name) not in settings.TASK_QUEUE_NAMES} == {}


@pytest.mark.parametrize(("task_name", "queue"), sorted(ROLES.items()))
def test_each_role_has_its_queue(task_name, queue):
    assert queue_of(task_name) == queue


def test_every_beat_task_runs_on_the_default_queue_but_those_of_webhooks_and_automations_beside_their_work():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        app = entry["task"].split(".")[0]
        expected = app if app in ("webhooks", "automations") else "default"
        assert queue_of(entry["task"], entry.get("options")) == expected, entry


def test_a_worker_started_without_queues_consumes_all_six():
    # Development and the test suite's in-thread worker run every role in one worker.
    assert set(celery_app.amqp.queues.consume_from) == set(settings.TASK_QUEUE_NAMES)


def test_a_signup_queued_through_redis_lands_on_the_transactional_queue(broker_tasks):
    public_signup_task.delay(email="new@mail.example", first_name="", ip=None)

    assert [m["task"] for m in queued_tasks("transactional")] == ["subscribers.tasks.public_signup_task"]
    others = ("sends", "automations", "feedback", "webhooks", "default")
    assert [queued_tasks(q) for q in others] == [[] for _ in others]
