"""Thin Celery tasks of the API."""

from celery import shared_task


@shared_task
def idempotency_records_purge_task() -> int:
    """Forget the answers kept for Idempotency-Key replays once their 24 hours are over."""
    from .services import idempotency_records_purge

    return idempotency_records_purge()
