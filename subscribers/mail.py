"""Transactional email (confirmations, notices): rendered here, sent through SES by a Celery task.

Marketing campaigns have their own pipeline in ``campaigns``; this is for one message to one person
who asked for it.
"""

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from mailer.mime import HeaderInjectionError, mime_build

__all__ = ["HeaderInjectionError", "message_build", "transactional_email_send"]


def message_build(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
    sender: str | None = None,
    reply_to: str | None = None,
) -> bytes:
    """One multipart/alternative UTF-8 message from ``sender`` (default DEFAULT_FROM_EMAIL) to ``to``,
    with a Message-ID on the sender's domain. See ``mime.mime_build``."""
    return mime_build(
        sender=sender or settings.DEFAULT_FROM_EMAIL,
        to=to,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        reply_to=reply_to,
    )


def transactional_email_send(*, to: str, template: str, context: dict, kind: str) -> None:
    """Render ``templates/emails/<template>.{subject.txt,txt,html}`` and queue it after commit.

    The rendered text travels in the task message rather than a table because confirmation links
    carry one-time secrets that we store only as hashes.
    """
    from .tasks import transactional_email_send_task

    context = {
        "brand_name": settings.BRAND_NAME,
        "brand_address": settings.BRAND_POSTAL_ADDRESS,
        "site_url": settings.SITE_URL,
        **context,
    }
    subject = " ".join(render_to_string(f"emails/{template}.subject.txt", context).split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    transaction.on_commit(
        lambda: transactional_email_send_task.delay(to=to, subject=subject, text=text, html=html, kind=kind)
    )
