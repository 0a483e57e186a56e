"""manage.py ses_suppression_sync against an SES-compatible suppression list endpoint, over HTTP through boto3."""

import pytest
from django.core.management import CommandError, call_command

from mailer.ses import _cached_client
from subscribers.addresses import address_hmac
from subscribers.models import ConsentEvent, ConsentSource, SubscriptionStatus, Suppression, SuppressionReason
from subscribers.services import suppression_add
from tests.factories import SubscriptionFactory
from tests.ses_suppression_endpoint import SuppressionListEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def ses_list(settings):
    """The SES account list holds one bounce and one complaint; the client talks to it over HTTP."""
    with SuppressionListEndpoint({"bounced@mail.example": "BOUNCE", "grumpy@mail.example": "COMPLAINT"}) as (
        url,
        listed,
    ):
        settings.SES_ENDPOINT_URL = url
        _cached_client.cache_clear()
        yield listed
    _cached_client.cache_clear()


def reasons(email: str) -> set[str]:
    return set(Suppression.objects.filter(address_hmac=address_hmac(email)).values_list("reason", flat=True))


def test_both_directions_suppress_on_each_side_what_the_other_suppresses(ses_list, capsys):
    grumpy = SubscriptionFactory(subscriber__email="grumpy@mail.example")
    ours = SubscriptionFactory(subscriber__email="ours-bounced@mail.example").subscriber
    suppression_add(email=ours.email, scope="all", reason=SuppressionReason.BOUNCE)
    suppression_add(email="erased@mail.example", scope="marketing", reason=SuppressionReason.COMPLAINT)

    call_command("ses_suppression_sync")

    assert reasons("bounced@mail.example") == {SuppressionReason.BOUNCE}
    assert reasons("grumpy@mail.example") == {SuppressionReason.COMPLAINT}
    grumpy.refresh_from_db()
    assert grumpy.status == SubscriptionStatus.UNSUBSCRIBED
    assert ConsentEvent.objects.filter(subscriber=grumpy.subscriber, source=ConsentSource.SES_FEEDBACK).exists()
    assert ses_list["ours-bounced@mail.example"] == "BOUNCE"
    assert "erased@mail.example" not in ses_list, "an address we hold only as an HMAC cannot be pushed"
    output = capsys.readouterr().out
    assert "From SES into ours: 2" in output and "From ours into SES: 1" in output and "Not pushable: 1" in output


def test_a_second_run_changes_nothing(ses_list, capsys):
    call_command("ses_suppression_sync")
    events = ConsentEvent.objects.count()
    capsys.readouterr()

    call_command("ses_suppression_sync")

    output = capsys.readouterr().out
    assert "From SES into ours: 0" in output and "From ours into SES: 0" in output
    assert "Already suppressed on both sides: 2" in output
    assert ConsentEvent.objects.count() == events


def test_a_dry_run_counts_and_changes_nothing(ses_list, capsys):
    ours = SubscriptionFactory(subscriber__email="ours-bounced@mail.example").subscriber
    suppression_add(email=ours.email, scope="all", reason=SuppressionReason.BOUNCE)

    call_command("ses_suppression_sync", "--dry-run")

    output = capsys.readouterr().out
    assert "2 would be suppressed here" in output and "1 would be added" in output
    assert reasons("bounced@mail.example") == set()
    assert "ours-bounced@mail.example" not in ses_list


def test_an_unreachable_ses_is_a_clear_error(settings):
    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    _cached_client.cache_clear()
    try:
        with pytest.raises(CommandError, match="Could not read the SES suppression list"):
            call_command("ses_suppression_sync")
    finally:
        _cached_client.cache_clear()
    assert not Suppression.objects.exists()
