"""Thin Celery tasks, all on the ``webhooks`` queue: messages only wake workers; the ledger says what is due."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def webhook_deliver_task() -> int:
    """Attempt due deliveries until none is left (or the task's time is up: it then queues its successor)."""
    from .delivery import webhook_deliveries_run

    return webhook_deliveries_run()


@shared_task(acks_late=True, ignore_result=True)
def webhooks_sweep_task() -> dict:
    """Beat, every 30 s: disable endpoints failing for five days, expire rotated secrets, wake workers for due work."""
    from .delivery import webhooks_sweep

    return webhooks_sweep()
