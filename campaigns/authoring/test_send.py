"""State changes for campaigns. For now: sending a test of a campaign to a few chosen addresses."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from campaigns.models import CampaignPage
from subscribers.addresses import email_normalise

TEST_ADDRESSES_MAX = 10


class CampaignError(Exception):
    """A campaign action was refused; the message says why."""


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


def campaign_test_send(*, page: CampaignPage, addresses: list[str]) -> None:
    """Queue a test of the campaign's latest revision, marked [TEST], through the same mail path as real sends."""
    from campaigns.tasks import campaign_test_send_task

    if not addresses or len(addresses) > TEST_ADDRESSES_MAX:
        raise CampaignError(f"Send a test to between 1 and {TEST_ADDRESSES_MAX} addresses.")
    page_id = page.pk
    transaction.on_commit(lambda: campaign_test_send_task.delay(page_id=page_id, addresses=addresses))
