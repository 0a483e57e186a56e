"""Erasure across the whole database: nothing names the person afterwards, the totals are unchanged, and the
address cannot come back as a marketing recipient without a fresh, confirmed, explicit opt-in."""

import pytest
from django.db import connection
from django.utils import timezone
from wagtail.log_actions import log

from campaigns.models import Delivery, DeliveryState, FeedbackEvent, Send
from campaigns.sending.services import send_create, send_start
from campaigns.sending.worker import send_work
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    CustomerProfile,
    Disclosure,
    EmailChangeRequest,
    ErasureRecord,
    ErasureSource,
    Partner,
    PolicyAcknowledgement,
    PrivacyPolicyVersion,
    Subscriber,
    SubscriptionStatus,
    Suppression,
    SuppressionScope,
    Topic,
    User,
)
from subscribers.services import (
    ExplicitRequestRequired,
    SuppressedAddressError,
    privacy_policy_acknowledge,
    subscriber_get_or_create,
    subscription_confirm,
    subscription_request,
)
from subscribers.services.disclosures import partner_export_create
from subscribers.services.erasure import account_erase, subscriber_erase
from subscribers.wording import CONFIRM_BUTTON, PUBLIC_SIGNUP
from tests.factories import PRIVACY_OFFICERS, SubscriptionFactory, UserFactory, staff_in_role

pytestmark = pytest.mark.django_db

EMAIL = "zoe.erase@bücher.example"
FORMS = ("zoe.erase@bücher.example", "zoe.erase@xn--bcher-kva.example", "ZOE.ERASE")


def every_text_cell_containing(needles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, column) of every cell in the database whose text contains one of ``needles``, any case."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                quoted_table, quoted_column = connection.ops.quote_name(table), connection.ops.quote_name(column.name)
                for needle in needles:
                    cursor.execute(
                        f"SELECT COUNT(*) FROM {quoted_table} "  # noqa: S608 - names from introspection
                        f"WHERE LOWER(CAST({quoted_column} AS TEXT)) LIKE %s",
                        [f"%{needle.lower()}%"],
                    )
                    if cursor.fetchone()[0]:
                        found.append((table, column.name))
    return found


@pytest.fixture
def person(campaign, settings, outbox):
    """Someone with an account, a profile, two subscriptions, consent history, a pending change of address,
    an acknowledged privacy policy version, a message sent and one still queued, an SES event naming them, an
    admin log entry, and a partner export."""
    settings.SES_MAX_SEND_RATE = 1000
    user = UserFactory(email=EMAIL)
    CustomerProfile.objects.filter(user=user).update(
        telephone="+447700900123", address_line1="1 Erase Lane", town="Leeds", postcode="LS1 1AA"
    )
    EmailChangeRequest.objects.create(user=user, new_email="zoe.next@mail.example", nonce_hash="h" * 64)
    subscriber = subscriber_get_or_create(email=EMAIL, first_name="Zoë", user=user)
    subscriber.email_confirmed_at = timezone.now()
    subscriber.save()
    general = Topic.objects.get(is_default=True)
    SubscriptionFactory(subscriber=subscriber, topic=general)
    ConsentEvent.objects.create(
        subscriber=subscriber,
        topic=general,
        purpose=ConsentPurpose.MARKETING,
        action=ConsentAction.CONFIRMED,
        source=ConsentSource.EMAIL_LINK,
        ip_truncated="203.0.113.0",
        detail="Asked by phone",
    )
    privacy_policy_acknowledge(user=user, version=PrivacyPolicyVersion.objects.latest())
    others = [SubscriptionFactory(topic=general) for _ in range(3)]
    staff = staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example")
    log(instance=subscriber, action="wagtail.edit", user=staff)
    partner = Partner.objects.create(name="Otter & Co", purpose="Gift offers", contract_reference="DSA-9")
    partner_export_create(partner=partner, topic=general, made_by=staff)
    return {"user": user, "subscriber": subscriber, "others": others, "staff": staff}


def sent_then_queued(campaign, person) -> Send:
    """A send already made to everyone, and a second send whose rows are still queued."""
    first = send_start(send=send_create(page=campaign))
    send_work(send_id=first.pk)
    row = Delivery.objects.get(send=first, subscriber=person["subscriber"])
    row.reason = f"Mailbox {EMAIL} full"
    row.save()
    FeedbackEvent.objects.create(
        sns_message_id="sns-1",
        event_key="k-1",
        event_type="Bounce",
        ses_message_id=row.ses_message_id,
        topic_arn="arn:aws:sns:eu-west-2:123456789012:ses",
        payload={"mail": {"destination": ["zoe.erase@xn--bcher-kva.example"]}, "bounce": {"bounceType": "Transient"}},
    )
    return send_start(send=send_create(page=campaign))


def test_after_erasure_no_text_cell_names_the_person(campaign, person):
    sent_then_queued(campaign, person)
    assert every_text_cell_containing(FORMS), "the fixture holds the address in several places"

    record = subscriber_erase(subscriber=person["subscriber"], source=ErasureSource.STAFF, performed_by=person["staff"])

    assert every_text_cell_containing(FORMS) == []
    assert every_text_cell_containing(("zoe.next@mail.example", "+447700900123", "Erase Lane")) == []
    assert not User.objects.filter(pk=person["user"].pk).exists()
    assert not Subscriber.objects.filter(pk=person["subscriber"].pk).exists()
    assert record.source == ErasureSource.STAFF and record.performed_by == person["staff"]
    assert record.counts["accounts"] == 1 and record.counts["subscriptions"] == 1
    assert record.counts["ses_events_scrubbed"] == 1 and record.counts["admin_log_entries"] == 1
    assert record.counts["disclosure_links"] == 1
    disclosure = Disclosure.objects.get()
    assert (disclosure.row_count, disclosure.recipients.count()) == (4, 3), "the count stays true; the link goes"
    assert record.counts["policy_acknowledgements"] == 1 and not PolicyAcknowledgement.objects.exists()
    event = FeedbackEvent.objects.get()
    assert event.payload == {"mail": {"destination": ["[erased]"]}, "bounce": {"bounceType": "Transient"}}


def test_totals_stay_true_and_unsent_rows_are_skipped(campaign, person):
    second = sent_then_queued(campaign, person)
    first = Send.objects.exclude(pk=second.pk).get()
    before = {
        "rows": Delivery.objects.count(),
        "first_sent": Delivery.objects.filter(send=first, state=DeliveryState.SENT).count(),
        "consent_events": ConsentEvent.objects.count(),
    }

    subscriber_erase(subscriber=person["subscriber"], source=ErasureSource.STAFF)

    assert Delivery.objects.count() == before["rows"]
    assert Delivery.objects.filter(send=first, state=DeliveryState.SENT).count() == before["first_sent"]
    assert ConsentEvent.objects.count() == before["consent_events"]
    anonymised = ConsentEvent.objects.get(action=ConsentAction.CONFIRMED, topic__is_default=True, subscriber=None)
    assert (anonymised.ip_truncated, anonymised.detail) == (None, "")
    erased_row = Delivery.objects.get(send=second, subscriber__isnull=True)
    assert (erased_row.state, erased_row.reason) == (DeliveryState.SKIPPED, "recipient erased")
    assert Delivery.objects.get(send=first, subscriber__isnull=True).reason == "recipient erased"

    send_work(send_id=second.pk)
    sent_to = {row.subscriber_id for row in Delivery.objects.filter(send=second, state=DeliveryState.SENT)}
    assert sent_to == {s.subscriber_id for s in person["others"]}


def test_the_address_cannot_come_back_without_a_fresh_explicit_confirmed_opt_in(
    campaign, person, django_capture_on_commit_callbacks, outbox
):
    import re

    subscriber_erase(subscriber=person["subscriber"], source=ErasureSource.STAFF)
    assert Suppression.objects.filter(scope=SuppressionScope.ALL, reason="erased").count() == 3  # every form

    general = Topic.objects.get(is_default=True)
    for spelling in (EMAIL, "Zoe.Erase@xn--bcher-kva.example"):
        returning = subscriber_get_or_create(email=spelling)
        with pytest.raises(SuppressedAddressError):
            subscription_request(
                subscriber=returning, topics=[general], source=ConsentSource.IMPORT, wording=PUBLIC_SIGNUP
            )
    returning = subscriber_get_or_create(email=EMAIL)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_request(
            subscriber=returning, topics=[general], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
        )
    token = re.search(r"/newsletter/confirm/([^/\s]+)/", outbox.last_to("zoe.erase@xn--bcher-kva.example").text)[1]
    with pytest.raises(ExplicitRequestRequired):
        subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON)
    assert returning.subscriptions.get().status == SubscriptionStatus.PENDING
    third = send_start(send=send_create(page=campaign))
    assert not Delivery.objects.filter(send=third, subscriber=returning).exists()

    subscription_confirm(token=token, source=ConsentSource.EMAIL_LINK, wording=CONFIRM_BUTTON, explicit_request=True)

    assert returning.subscriptions.get().status == SubscriptionStatus.ACTIVE


def test_from_an_account_only_a_proven_address_is_tombstoned(campaign):
    squatter = UserFactory(email="someone.else@mail.example")
    EmailChangeRequest.objects.create(user=squatter, new_email="victim@mail.example", nonce_hash="v" * 64)

    record = account_erase(user=squatter, source=ErasureSource.SELF_SERVICE)

    assert record.counts["addresses_tombstoned"] == 0
    assert not Suppression.objects.exists()
    assert not User.objects.filter(pk=squatter.pk).exists()
    assert ErasureRecord.objects.get().performed_by is None


def test_an_account_without_a_subscriber_has_its_policy_acknowledgements_counted_in_the_erasure_log():
    user = UserFactory(email="never.confirmed@mail.example")
    privacy_policy_acknowledge(user=user, version=PrivacyPolicyVersion.objects.latest())

    record = account_erase(user=user, source=ErasureSource.SELF_SERVICE)

    assert record.counts["policy_acknowledgements"] == 1 and not PolicyAcknowledgement.objects.exists()


def test_an_ses_event_arriving_after_the_erasure_does_not_bring_the_address_back(person):
    from campaigns.feedback.events import feedback_process, feedback_receive
    from tests.campaigns import ses_events

    subscriber_erase(subscriber=person["subscriber"], source=ErasureSource.STAFF)
    other = person["others"][0].subscriber.email
    mail = ses_events.mail(message_id="late-1", to=["zoe.erase@xn--bcher-kva.example", other])
    event = ses_events.bounce(
        mail=mail,
        bounce_type="Transient",
        sub_type="General",
        recipients=[ses_events.bounced_recipient("zoe.erase@xn--bcher-kva.example", status="4.2.2")],
    )

    stored = feedback_receive(sns_message=ses_events.sns_notification(event))
    feedback_process(event_id=stored.pk)

    stored.refresh_from_db()
    assert stored.payload["mail"]["destination"] == ["[erased]", other], "only the erased recipient is removed"
    assert every_text_cell_containing(FORMS) == []
