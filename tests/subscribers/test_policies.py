"""Privacy policy versions: publishing rules, immutability, the public pages, and the Account Home notice."""

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from subscribers.models import PolicyAcknowledgement, PrivacyPolicyVersion
from subscribers.selectors import policy_notice_for, policy_version_current
from subscribers.services import PolicyVersionError, privacy_policy_acknowledge, privacy_policy_publish
from subscribers.services.policies import policy_version_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW_TEXT = "Larkspur & Lune keeps your details to run your account and, if you ask, to send you news."


def publish(version="2.0", *, summary="We now say how long we keep order history.", published_at=None, by=None):
    return privacy_policy_publish(
        version=version, text=NEW_TEXT, summary=summary, published_at=published_at, published_by=by
    )


@pytest.fixture
def staff(db):
    return UserFactory(email="editor@larkspur-lune.example", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def customer_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Publishing ---------------------------------------------------------------------------------------------------------


def test_the_placeholder_version_was_recorded_when_it_took_effect():
    placeholder = PrivacyPolicyVersion.objects.get(version="1.0")
    assert placeholder.recorded_at == placeholder.published_at


def test_publishing_now_puts_the_version_in_force_and_records_who_published_it_in_the_audit_log(staff):
    before = timezone.now()

    policy = publish("2.0", by=staff)

    assert policy_version_current() == policy
    assert policy.published_by == staff
    assert before <= policy.recorded_at <= timezone.now()
    assert before <= policy.published_at <= timezone.now()
    entry = ModelLogEntry.objects.get(action="subscribers.privacy_policy_publish")
    assert (entry.object_id, entry.user_id, entry.data["version"]) == (str(policy.pk), staff.pk, "2.0")
    assert "Published privacy policy 2.0, in force from" in entry.message


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.0", "Version 1.0 already exists"),
        ("1", "Version 1.0 already exists"),  # 1 and 1.0 are the same number
        ("0.9", "is lower than version 1.0"),
        ("v2", "is not a version number"),
        ("2.0-beta", "is not a version number"),
        ("", "is not a version number"),
    ],
)
def test_a_version_number_that_is_not_new_and_higher_is_refused_and_nothing_is_recorded(version, message):
    with pytest.raises(PolicyVersionError, match=re.escape(message)) as refused:
        publish(version)

    assert refused.value.field == "version"
    assert list(PrivacyPolicyVersion.objects.values_list("version", flat=True)) == ["1.0"]
    assert not ModelLogEntry.objects.filter(action="subscribers.privacy_policy_publish").exists()


def test_version_numbers_compare_as_numbers_not_as_text():
    publish("2.9")

    assert publish("2.10").version == "2.10"
    assert policy_version_key("2.10") > policy_version_key("2.9")
    with pytest.raises(PolicyVersionError, match=re.escape("lower than version 2.10")):
        publish("2.9.1")


@pytest.mark.parametrize(
    ("field", "changes", "message"),
    [
        ("summary", {"summary": "   "}, "Say in a sentence or two what changed"),
        ("summary", {"summary": "x" * 301}, "Keep the summary to 300 characters"),
        ("published_at", {"published_at": timedelta(hours=-2)}, "is in the past"),
    ],
)
def test_an_empty_summary_or_a_backdated_version_is_refused(field, changes, message):
    if "published_at" in changes:
        changes = {"published_at": timezone.now() + changes["published_at"]}

    with pytest.raises(PolicyVersionError, match=message) as refused:
        publish("2.0", **changes)

    assert refused.value.field == field
    assert PrivacyPolicyVersion.objects.count() == 1


def test_an_empty_text_is_refused():
    with pytest.raises(PolicyVersionError, match="The policy text is empty") as refused:
        privacy_policy_publish(version="2.0", text=" \n ", summary="Shorter.", published_at=None)
    assert refused.value.field == "text"


def test_a_time_a_minute_ago_means_now_and_is_stored_as_the_moment_of_publishing():
    a_minute_ago = timezone.now() - timedelta(minutes=1)

    policy = publish("2.0", published_at=a_minute_ago)

    assert policy.published_at > a_minute_ago + timedelta(seconds=50)
    assert policy_version_current() == policy


def test_a_version_scheduled_for_later_is_not_in_force_until_its_time_comes():
    current = policy_version_current()

    scheduled = publish("2.0", published_at=timezone.now() + timedelta(seconds=2))

    assert policy_version_current() == current
    time.sleep(2.2)
    assert policy_version_current() == scheduled


def test_a_new_version_must_take_effect_after_one_already_scheduled():
    publish("2.0", published_at=timezone.now() + timedelta(days=30))

    with pytest.raises(PolicyVersionError, match=re.escape("version 3.0 must take effect after it")) as refused:
        publish("3.0")

    assert refused.value.field == "published_at"
    assert publish("3.0", published_at=timezone.now() + timedelta(days=31)).version == "3.0"


# The admin ---------------------------------------------------------------------------------------------------------


def admin_url(view, *args):
    return reverse(f"privacy_policy_versions:{view}", args=args)


def test_staff_publish_a_version_from_the_admin_and_land_on_its_page(staff_client, staff):
    response = staff_client.post(
        admin_url("add"),
        {"version": "2.0", "summary": "We added the jewellery repair service.", "published_at": "", "text": NEW_TEXT},
    )

    policy = PrivacyPolicyVersion.objects.get(version="2.0")
    assert response.status_code == 302 and response.url == admin_url("inspect", policy.pk)
    assert policy.published_by == staff and policy_version_current() == policy
    page = staff_client.get(response.url).content.decode()
    assert "In force" in page and "We added the jewellery repair service." in page
    assert f"by {staff.get_full_name()}" in page
    history = staff_client.get(admin_url("history", policy.pk)).content.decode()
    assert "Published privacy policy 2.0, in force from" in history


def test_the_admin_form_shows_the_reason_beside_the_field_and_records_nothing(staff_client):
    response = staff_client.post(
        admin_url("add"), {"version": "0.5", "summary": "Older.", "published_at": "", "text": NEW_TEXT}
    )

    assert response.status_code == 200
    assert "Version 0.5 is lower than version 1.0, which already exists." in response.content.decode()
    assert PrivacyPolicyVersion.objects.count() == 1


def test_a_published_version_cannot_be_edited_or_deleted_even_by_a_superuser(staff_client):
    policy = publish("2.0")

    listing = staff_client.get(admin_url("index")).content.decode()
    assert admin_url("edit", policy.pk) not in listing and admin_url("delete", policy.pk) not in listing
    for path in (admin_url("edit", policy.pk), admin_url("delete", policy.pk)):
        response = staff_client.post(path, {"version": "2.0", "summary": "Forged.", "text": "Forged."})
        assert response.status_code in (302, 403), path

    policy.refresh_from_db()
    assert (policy.text, policy.summary) == (NEW_TEXT, "We now say how long we keep order history.")
    assert PrivacyPolicyVersion.objects.count() == 2


# The public pages --------------------------------------------------------------------------------------------------


def test_the_public_page_shows_the_version_in_force_and_earlier_versions_are_kept(client):
    publish("2.0")

    current = client.get("/privacy/").content.decode()
    earlier = client.get("/privacy/1.0/").content.decode()

    assert "Version 2.0, in force since" in current and NEW_TEXT.replace("&", "&amp;") in current
    assert 'href="/privacy/1.0/"' in current
    assert "An earlier version:" in earlier and "Read the version in force (2.0)" in earlier
    assert client.get("/privacy/9.9/").status_code == 404


def test_a_scheduled_version_can_be_read_ahead_and_says_when_it_takes_effect(client):
    publish("2.0", published_at=timezone.now() + timedelta(days=30))

    current = client.get("/privacy/").content.decode()
    ahead = client.get("/privacy/2.0/").content.decode()

    assert "Version 1.0, in force since" in current and "A new version takes effect on" in current
    assert "Version 2.0 takes effect on" in ahead


def test_the_site_footer_and_account_home_link_to_the_policy(client):
    user = UserFactory()
    home = customer_client(user).get("/account/").content.decode()
    assert home.count('href="/privacy/"') == 2  # footer and Account Home


# The notice on Account Home ----------------------------------------------------------------------------------------


def test_a_customer_registered_before_a_change_sees_the_notice_until_they_acknowledge_it():
    # Given a customer who registered under version 1.0, then version 2.0 is published
    user = UserFactory()
    policy = publish("2.0", summary="We keep order history for six years.")
    client = customer_client(user)

    # When they visit Account Home, they see the notice with the summary and a link
    html = client.get("/account/").content.decode()
    assert "Our privacy policy changed on" in html and "We keep order history for six years." in html
    assert 'href="/privacy/2.0/"' in html
    assert '<button type="submit" class="button">I\u2019ve read it</button>' in html

    # When they acknowledge it, it is recorded and the notice is gone
    response = client.post(reverse("account:policy_acknowledge"), {"version": policy.pk}, follow=True)
    assert "we have noted that you read privacy policy version 2.0" in response.content.decode()
    ack = PolicyAcknowledgement.objects.get()
    assert (ack.user, ack.version) == (user, policy)
    assert "Our privacy policy changed" not in client.get("/account/").content.decode()


def test_a_customer_who_registered_under_the_version_in_force_never_sees_the_notice():
    publish("2.0")
    user = UserFactory()

    assert policy_notice_for(user=user) is None
    assert "Our privacy policy changed" not in customer_client(user).get("/account/").content.decode()


def test_acknowledging_an_older_version_does_not_hide_the_notice_about_the_one_in_force():
    user = UserFactory()
    second = publish("2.0")
    privacy_policy_acknowledge(user=user, version=second)
    third = publish("3.0", summary="We stopped sharing with partners.")

    customer_client(user).post(
        reverse("account:policy_acknowledge"), {"version": PrivacyPolicyVersion.objects.get(version="1.0").pk}
    )

    assert policy_notice_for(user=user) == third
    assert "We stopped sharing with partners." in customer_client(user).get("/account/").content.decode()


def test_a_version_scheduled_for_later_shows_no_notice_yet_and_cannot_be_acknowledged():
    user = UserFactory()
    scheduled = publish("2.0", published_at=timezone.now() + timedelta(days=7))

    assert policy_notice_for(user=user) is None
    with pytest.raises(PolicyVersionError, match="does not take effect until"):
        privacy_policy_acknowledge(user=user, version=scheduled)
    assert not PolicyAcknowledgement.objects.exists()


def test_acknowledging_twice_records_one_acknowledgement():
    user = UserFactory()
    policy = publish("2.0")
    client = customer_client(user)

    for _ in range(2):
        client.post(reverse("account:policy_acknowledge"), {"version": policy.pk})

    assert PolicyAcknowledgement.objects.filter(user=user, version=policy).count() == 1


def test_acknowledging_needs_the_csrf_token():
    user = UserFactory()
    policy = publish("2.0")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("account:policy_acknowledge"), {"version": policy.pk})

    assert response.status_code == 403
    assert not PolicyAcknowledgement.objects.exists()


def test_acknowledging_needs_a_login_and_a_post(client):
    policy = publish("2.0")
    user = UserFactory()

    anonymous = client.post(reverse("account:policy_acknowledge"), {"version": policy.pk})
    by_get = customer_client(user).get(reverse("account:policy_acknowledge"), {"version": policy.pk})

    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    assert by_get.status_code == 405
    assert not PolicyAcknowledgement.objects.exists()


@pytest.mark.parametrize("version", ["", "abc", "999999"])
def test_a_missing_or_unknown_version_records_nothing(version):
    user = UserFactory()
    publish("2.0")

    response = customer_client(user).post(reverse("account:policy_acknowledge"), {"version": version})

    assert response.status_code in (302, 404)
    assert not PolicyAcknowledgement.objects.exists()
