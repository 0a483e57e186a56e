"""Sending a test of a campaign to a few chosen addresses: checking them, queueing the test, and delivering it."""

import logging

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from campaigns.audit import campaign_action_log
from campaigns.authoring.personalise import campaign_message_build
from campaigns.authoring.rendering import campaign_render
from campaigns.errors import CampaignError
from campaigns.models import CampaignPage
from campaigns.permissions import actor_require, may_author
from mailer.ses import SesPermanentError, SesTransientError, ses_send_raw
from subscribers.addresses import email_normalise

logger = logging.getLogger(__name__)

TEST_ADDRESSES_MAX = 10


class TestSendError(CampaignError):
    """A test send was refused; the message says why."""


class TestSendInterrupted(CampaignError):
    """SES refused for now: ``remaining`` are the addresses still to send to, the first of them refused."""

    def __init__(self, message: str, *, remaining: list[str]):
        super().__init__(message)
        self.remaining = remaining


TestSendError.__test__ = TestSendInterrupted.__test__ = False  # not tests, whatever pytest thinks of their names


def test_addresses_parse(raw: str) -> list[str]:
    """Addresses separated by commas, spaces or new lines; each valid; at most ten. Raises ValidationError."""
    addresses = list(dict.fromkeys(email_normalise(a) for a in raw.replace(",", " ").split() if a.strip()))
    if not addresses:
        raise ValidationError("Enter at least one email address.", code="empty")
    if len(addresses) > TEST_ADDRESSES_MAX:
        raise ValidationError(
            f"Send a test to at most {TEST_ADDRESSES_MAX} addresses at a time ({len(addresses)} given).", code="many"
        )
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError("Not a valid email address: " + ", ".join(bad), code="invalid")
    return addresses


# Not a test itself, whatever its name says (pytest collects functions that start with "test_").
test_addresses_parse.__test__ = False


def campaign_test_send(*, page: CampaignPage, addresses: list[str], user=None) -> None:
    """Queue a test of the campaign's latest revision, marked [TEST], through the same mail path as real sends.
    Refused with CampaignForbidden unless ``user`` may author the campaign (a test shows its unpublished draft)."""
    from campaigns.tasks import campaign_test_send_task

    actor_require(may_author, page=page, user=user, action="send a test of")
    if not addresses or len(addresses) > TEST_ADDRESSES_MAX:
        raise TestSendError(f"Send a test to between 1 and {TEST_ADDRESSES_MAX} addresses.")
    page_id = page.pk
    campaign_action_log(instance=page, action="campaigns.test_send", user=user, data={"addresses": len(addresses)})
    transaction.on_commit(lambda: campaign_test_send_task.delay(page_id=page_id, addresses=addresses))


def campaign_test_deliver(*, page_id: int, addresses: list[str]) -> int:
    """Render the campaign's latest revision once and send it, marked [TEST], to each address; return how many SES
    accepted. An address SES rejects for good is logged and skipped; when SES refuses for now, raises
    TestSendInterrupted with the addresses not yet sent, so that only those are tried again."""
    page = CampaignPage.objects.get(pk=page_id).get_latest_revision_as_object()
    rendered = campaign_render(page=page)
    sent = 0
    for position, address in enumerate(addresses):
        raw = campaign_message_build(rendered=rendered, to=address, subscription=None, test=True)
        try:
            ses_send_raw(raw_message=raw, to=address, sender=rendered.sender, tags={"kind": "campaign-test"})
            sent += 1
        except SesTransientError as err:
            raise TestSendInterrupted(str(err), remaining=addresses[position:]) from err
        except SesPermanentError as err:
            logger.error("Test of campaign %s to one address rejected by SES: %s", page_id, err)
    return sent
