"""Thin Celery tasks for campaigns."""

import logging

from celery import shared_task, signals

logger = logging.getLogger(__name__)


@signals.worker_process_init.connect
def worker_process_warm(**kwargs) -> None:
    """Each worker process, once forked, prepares what a send needs before the first send arrives, and learns the
    signals that ask a running send to stop (``worker_stop``)."""
    from campaigns.sending.worker import worker_warm
    from campaigns.sending.worker_stop import child_handlers_install

    child_handlers_install()
    worker_warm()


@signals.worker_shutting_down.connect
def worker_stop_sends(*, how: str = "Warm", **kwargs) -> None:
    """A warm shutdown (SIGTERM, a deploy): running sends finish their open calls, record them and give back the
    rest for another worker, instead of holding the shutdown until the whole send is done."""
    from campaigns.sending.worker_stop import children_stop

    if how == "Warm":
        children_stop()


@shared_task(bind=True, max_retries=5, acks_late=True)
def campaign_test_send_task(self, *, page_id: int, addresses: list[str]) -> int:
    """Send a test of the campaign to each address; when SES refuses for now, try again with those not yet sent."""
    from campaigns.authoring.test_send import TestSendInterrupted, campaign_test_deliver

    try:
        return campaign_test_deliver(page_id=page_id, addresses=addresses)
    except TestSendInterrupted as err:
        raise self.retry(exc=err, countdown=10, kwargs={"page_id": page_id, "addresses": err.remaining}) from err


@shared_task(acks_late=True)
def send_work_task(*, send_id: int) -> int:
    """A wake-up for one worker on one send. Duplicated or lost messages are harmless: the ledger decides."""
    from campaigns.sending.worker import send_work

    return send_work(send_id=send_id)


@shared_task
def sends_sweep_task() -> dict:
    """Every minute: expired leases, due schedules, sends with work left that no worker holds."""
    from campaigns.sending.services import sends_sweep

    return sends_sweep()


@shared_task(acks_late=True)
def feedback_process_task(*, event_id: int) -> bool:
    """Apply one stored SES event. Run twice, it changes things once."""
    from campaigns.feedback.events import feedback_process

    return feedback_process(event_id=event_id)


@shared_task(acks_late=True)
def send_audience_task(*, send_id: int) -> int:
    """Write the rest of a large send's audience, chunk by chunk, while workers send what is written."""
    from campaigns.sending.services import send_audience_continue

    return send_audience_continue(send_id=send_id)


@shared_task
def feedback_payloads_purge_task() -> int:
    """Empty stored SES events older than RETENTION_SES_EVENT_DAYS."""
    from campaigns.feedback.retention import feedback_payloads_purge

    return feedback_payloads_purge()


@shared_task(acks_late=True)
def reputation_guard_task() -> str:
    """The one check a burst of bounces and complaints schedules (``campaigns.feedback.reputation``): judge the
    rates and pause running sends over a limit."""
    from campaigns.feedback.reputation import reputation_guard

    return reputation_guard()


@shared_task
def tally_flush_task() -> int:
    """Write the clicks and opens gathered in Redis to the database (``campaigns.results.tally``)."""
    from campaigns.results.tally import tally_flush

    return tally_flush()


@shared_task
def send_results_count_task(*, send_id: int) -> int:
    """Count a large send's report in the background (``campaigns.results.kept``); returns its recipients."""
    from campaigns.results.kept import send_results_store

    return send_results_store(send_id=send_id)["recipients"]


@shared_task
def audience_count_task(*, topic_ids: list[int], segment_definition=None) -> int:
    """Count a large audience for the send page in the background (``campaigns.sending.audience_counts``)."""
    from campaigns.sending.audience_counts import audience_count_store

    return audience_count_store(topic_ids=topic_ids, segment_definition=segment_definition)["eligible"]
