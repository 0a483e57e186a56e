"""Thin Celery tasks: each calls one service and retries only what is worth retrying."""

import logging

from celery import shared_task

from mailer.ses import SesPermanentError, SesTransientError, ses_send_raw

from .mail import message_build

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def public_signup_task(*, email: str, first_name: str, ip: str | None) -> None:
    """The public signup form's work, off the request path so that its timing reveals nothing.

    Takes the address rather than an id: nothing about it may be looked up before the answer is sent.
    """
    from .services import public_signup

    public_signup(email=email, first_name=first_name, ip=ip)


@shared_task(acks_late=True)
def password_reset_request_task(*, email: str) -> None:
    """The password reset form's work, off the request path like the signup form's: the answer must not
    reveal, even by its timing, whether an account has the address."""
    from .services import password_reset_request

    password_reset_request(email=email)


@shared_task(bind=True, max_retries=8, acks_late=True)
def transactional_email_send_task(self, *, to: str, subject: str, text: str, html: str, kind: str) -> str | None:
    """Send one transactional email through SES. Throttling and outages retry with exponential backoff."""
    raw = message_build(to=to, subject=subject, text=text, html=html)
    try:
        return ses_send_raw(raw_message=raw, to=to, tags={"kind": kind})
    except SesTransientError as err:
        countdown = min(2**self.request.retries * 5, 600)
        logger.warning("Transactional %s email deferred %ss: %s", kind, countdown, err)
        raise self.retry(exc=err, countdown=countdown) from err
    except SesPermanentError as err:
        logger.error("Transactional %s email rejected by SES: %s", kind, err)
        return None


@shared_task(acks_late=True)
def access_export_task(*, export_id: int, nonce: str) -> None:
    """Prepare one copy of a person's data and email them its link (the link's secret travels only here)."""
    from .services.access_export import access_export_build

    access_export_build(export_id=export_id, nonce=nonce)


@shared_task
def access_exports_purge_task() -> int:
    """Delete copies of people's data whose links have expired."""
    from .services.access_export import access_exports_purge

    return access_exports_purge()


@shared_task
def pending_opt_ins_purge_task() -> dict:
    """Remove opt-ins never confirmed within RETENTION_PENDING_OPT_IN_DAYS."""
    from .services.retention import pending_opt_ins_purge

    return pending_opt_ins_purge()


@shared_task(acks_late=True)
def subscriber_import_task(*, import_id: int, dry_run: bool) -> None:
    """Check (dry run) or import one uploaded CSV file of subscribers."""
    from .services.imports.jobs import import_execute

    import_execute(import_id=import_id, dry_run=dry_run)


@shared_task
def subscriber_import_files_purge_task() -> int:
    """Delete uploaded import files older than IMPORT_FILE_HOURS."""
    from .services.imports.jobs import import_files_purge

    return import_files_purge()


@shared_task
def topic_counts_task() -> int:
    """Count the dashboard's subscribers per topic in the background (``subscribers.topic_counts``)."""
    from .topic_counts import topic_counts_store

    return len(topic_counts_store())
