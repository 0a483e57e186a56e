"""Thin Celery tasks for automations, on the ``automations`` queue (docs/operations.md)."""

from celery import shared_task


@shared_task(ignore_result=True)
def automations_tick_task() -> bool:
    """Every 15 seconds (beat): one indexed query for a due run of an active automation; if there is one,
    AUTOMATION_WORKERS workers are woken. Nothing else: with nothing due, this is the whole cost of automations."""
    from django.conf import settings

    from automations.worker import runs_due_exist

    if runs_due_exist():
        for _ in range(settings.AUTOMATION_WORKERS):
            automations_work_task.delay()
        return True
    return False


@shared_task(acks_late=True, ignore_result=True)
def automations_work_task() -> int:
    """A wake-up for one worker: take due runs' steps until none is due. Duplicated or lost messages are harmless:
    the runs and the ledger decide."""
    from django.conf import settings

    from automations.worker import automations_work

    return automations_work(max_seconds=settings.AUTOMATION_WORK_SECONDS)


@shared_task(ignore_result=True)
def automations_date_triggers_task() -> dict:
    """Every few minutes (beat): enter the people whose date comes round today, once the trigger hour has come."""
    from automations.services import date_triggers_enter

    return date_triggers_enter()
