"""Transactional email (confirmations, notices): rendered here, sent through SES by a Celery task.

Marketing campaigns have their own pipeline in ``campaigns``; this is for one message to one person
who asked for it.
"""

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from .addresses import address_for_transport


class HeaderInjectionError(ValueError):
    """A header value contained a line break."""


def _sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


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
    """One multipart/alternative UTF-8 message, headers encoded as RFC 2047 requires.

    The sender defaults to DEFAULT_FROM_EMAIL; the Message-ID is on the sending domain.
    """
    if any(ch in subject for ch in "\r\n"):
        raise HeaderInjectionError("The subject contains a line break.")
    sender = sender or settings.DEFAULT_FROM_EMAIL
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(addr_spec=address_for_transport(to))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=_sender_domain(sender))
    if reply_to:
        message["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        if any(ch in value for ch in "\r\n"):
            raise HeaderInjectionError(f"The {name} header contains a line break.")
        message[name] = value
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


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
