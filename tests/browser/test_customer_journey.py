"""A customer walks the real pages in Chromium: registration, double opt-in, Account Home, unsubscribe, preferences.

The journey test runs a real Celery worker, so the confirmation email goes web request -> Redis -> worker ->
boto3 -> the local SES endpoint, and the link the test follows is the one in that email.
"""

import re

import pytest
from playwright.sync_api import expect

from subscribers.links import preferences_url, unsubscribe_url
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from subscribers.selectors import third_party_objection_exists
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    # The live server and the worker see only committed rows; serialized_rollback brings back the rows that
    # migrations create (General Subscription, the first privacy policy) after the previous test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")


def fill_registration(page, *, first, last, email, telephone, line1, postcode, password) -> None:
    """Fill every required field of the registration form, as a customer types it."""
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Telephone").fill(telephone)
    page.get_by_label("Address line 1").fill(line1)
    page.get_by_label("Town or city").fill("Birmingham")
    page.get_by_label("Postcode").fill(postcode)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)


def test_register_opt_in_confirm_from_the_email_then_untick_general_subscription(
    page, site_url, celery_worker, email_wait, outbox, screenshot
):
    address = "ivy.hartley@mail.example"

    # Given the registration form, whose marketing box starts unticked
    page.goto("/accounts/register/")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    opt_in = page.get_by_label("Email me news and offers")
    expect(opt_in).not_to_be_checked()
    screenshot(page, "01-register")

    # When the customer registers and ticks the box
    fill_registration(
        page,
        first="Ivy",
        last="Hartley",
        email="Ivy.Hartley@Mail.example",
        telephone="0121 496 0123",
        line1="4 Vyse Street",
        postcode="b186ls",
        password="silver-locket-1907",
    )
    opt_in.check()
    page.get_by_role("button", name="Create account").click()

    # Then they are asked to check their inbox, and nothing is active until they click
    expect(page).to_have_url(f"{site_url}/accounts/register/sent/")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"We have sent an email to {address}.")
    expect(page.locator("main")).to_contain_text("the same click starts the news and offers you asked for")
    subscription = Subscription.objects.get(subscriber__email=address, topic__is_default=True)
    assert subscription.status == SubscriptionStatus.PENDING
    assert subscription.subscriber.user is None, "the account proves the address before it manages the record"
    screenshot(page, "A-02-register-check-your-inbox")

    # When the one email arrives through the broker and the worker: the address check, naming the opt-in
    message = email_wait(address)
    assert message.subject == "Confirm your email address for Larkspur & Lune"
    assert "The same click confirms that you want the emails you asked for when you registered: General" in (
        message.text
    )
    assert ("subscribers.tasks.transactional_email_send_task", False) in celery_worker.tasks_run
    assert not CONFIRM_LINK.search(message.text), "no separate subscription confirmation"
    verify_link = re.search(r"https?://\S+/account/email/confirm/[^/\s]+/", message.text).group(0)
    assert verify_link.startswith(site_url) and verify_link in message.html

    # Then opening the link shows what the click does and a button, and changes nothing (mail scanners fetch links)
    page.goto(verify_link)
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    expect(page.locator(".topic-list")).to_have_text("General Subscription")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PENDING
    assert not ConsentEvent.objects.filter(subscriber=subscription.subscriber, action=ConsentAction.CONFIRMED).exists()
    screenshot(page, "A-03-confirm-address-and-opt-in")

    # When they press the button, the address is theirs and the subscription active, by one click
    page.get_by_role("button", name="Yes, this is my address: subscribe me").click()
    expect(page).to_have_url(f"{site_url}/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text(
        f"Thank you: {address} is confirmed as your address. You will now receive: General Subscription."
    )
    subscription.refresh_from_db()
    subscription.subscriber.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.subscriber.user.profile.postcode == "B18 6LS"
    assert ConsentEvent.objects.filter(
        subscriber=subscription.subscriber, action=ConsentAction.CONFIRMED, source=ConsentSource.EMAIL_LINK
    ).exists()
    assert len(outbox.to(address)) == 1, "one email at registration"
    screenshot(page, "A-04-address-and-subscription-confirmed")

    # And they log in with the password they chose
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill("silver-locket-1907")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site_url}/account/")

    # When they go to Account Home, then Newsletter Subscription
    page.get_by_role("navigation", name="Account pages").get_by_role("link", name="Newsletter Subscription").click()
    expect(page).to_have_url(f"{site_url}/account/newsletter/")
    expect(page.get_by_role("heading", name="Newsletter Subscription", level=1)).to_be_visible()
    general = page.get_by_label("General Subscription", exact=True)
    expect(general).to_be_checked()
    expect(page.get_by_label("Do not share my details with carefully selected third parties.")).not_to_be_checked()
    screenshot(page, "05-newsletter-subscription")

    # And untick General Subscription and save
    general.uncheck()
    page.get_by_role("button", name="Save preferences").click()

    # Then the page says so, the box stays unticked, and the ledger records the withdrawal
    expect(page).to_have_url(f"{site_url}/account/newsletter/")
    expect(page.get_by_role("status")).to_have_text(
        "Your preferences are saved. You will no longer receive: General Subscription."
    )
    expect(page.get_by_label("General Subscription", exact=True)).not_to_be_checked()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription.unsubscribed_at is not None
    assert ConsentEvent.objects.filter(
        subscriber=subscription.subscriber,
        topic=subscription.topic,
        action=ConsentAction.WITHDRAWN,
        source=ConsentSource.ACCOUNT_PAGE,
    ).exists()
    screenshot(page, "06-newsletter-subscription-saved")


def test_registering_without_ticking_the_box_only_asks_to_confirm_the_address_and_subscribes_to_nothing(
    page, site_url, outbox, screenshot
):
    page.goto("/accounts/register/")
    fill_registration(
        page,
        first="Noor",
        last="Aziz",
        email="noor@mail.example",
        telephone="07911 123456",
        line1="9 Warstone Lane",
        postcode="B18 6NE",
        password="rose-gold-band-44",
    )
    page.get_by_role("button", name="Create account").click()

    expect(page.locator("main")).to_contain_text(
        "We have sent an email to noor@mail.example. Click the button in it to confirm the address is yours."
    )
    expect(page.locator("main")).not_to_contain_text("news and offers")
    assert not Subscription.objects.exists()
    (verification,) = outbox.to("noor@mail.example")
    assert verification.subject == "Confirm your email address for Larkspur & Lune"
    assert "news" not in verification.text

    page.goto("/account/newsletter/")
    page.get_by_label("Email address").fill("noor@mail.example")
    page.get_by_label("Password").fill("rose-gold-band-44")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Confirm your email address first")).to_be_visible()
    expect(page.get_by_label("General Subscription", exact=True)).to_have_count(0)


def test_registration_errors_are_shown_next_to_their_fields(page, screenshot):
    page.goto("/accounts/register/")
    page.get_by_label("Email address").fill("not-an-address")
    page.get_by_label("Telephone").fill("12")
    page.get_by_label("Postcode").fill("NOWHERE")
    page.get_by_role("button", name="Create account").click()

    expect(page.locator(".field.has-error").filter(has=page.get_by_label("Email address"))).to_contain_text(
        "Enter a valid email address"
    )
    expect(page.locator(".field.has-error").filter(has=page.get_by_label("Postcode"))).to_contain_text(
        "Enter a valid UK postcode"
    )
    expect(page.locator(".field.has-error").filter(has=page.get_by_label("Telephone"))).to_contain_text(
        "telephone number"
    )
    assert not Subscriber.objects.exists()
    screenshot(page, "07-register-errors")


def test_unsubscribe_link_from_an_email_shows_a_page_and_only_the_button_unsubscribes(page, site_url, screenshot):
    # Given a confirmed subscriber on General Subscription and one other topic
    subscription = SubscriptionFactory(subscriber__email="mabel@mail.example")
    collections = TopicFactory(name="New collections", description="First sight of each new collection.")
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=collections)
    link = unsubscribe_url(subscription=subscription)
    assert link.startswith(f"{site_url}/newsletter/unsubscribe/")

    # When the link in the email is opened
    page.goto(link)

    # Then the page names the address and the list, and nothing has changed yet
    expect(page.get_by_role("heading", name="Unsubscribe", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("mabel@mail.example will stop receiving General Subscription")
    expect(page.get_by_label("Only this list")).to_be_checked()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert not ConsentEvent.objects.filter(action=ConsentAction.WITHDRAWN).exists()
    screenshot(page, "08-unsubscribe")

    # When the customer presses Unsubscribe
    page.get_by_label("Why are you leaving? (optional)").select_option(label="Too many emails")
    page.get_by_role("button", name="Unsubscribe").click()

    # Then that list stops, the other one does not, and the ledger has the reason
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("You will no longer receive General Subscription.")
    subscription.refresh_from_db()
    other.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert other.status == SubscriptionStatus.ACTIVE
    event = ConsentEvent.objects.get(action=ConsentAction.WITHDRAWN)
    assert (event.topic, event.source, event.detail) == (subscription.topic, ConsentSource.EMAIL_LINK, "too_many")
    screenshot(page, "09-unsubscribed")

    # And the page links to the preference centre, which shows what is left
    page.get_by_role("link", name="Manage your preferences").click()
    expect(page).to_have_url(preferences_url(subscriber=subscription.subscriber))
    expect(page.get_by_label("General Subscription", exact=True)).not_to_be_checked()
    expect(page.get_by_label("New collections", exact=True)).to_be_checked()


def test_unsubscribe_everything_stops_every_list(page):
    subscription = SubscriptionFactory(subscriber__email="otto@mail.example")
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=TopicFactory(name="Bridal"))

    page.goto(unsubscribe_url(subscription=subscription))
    page.get_by_label("Everything: all marketing email").check()
    page.get_by_role("button", name="Unsubscribe").click()

    expect(page.locator("main")).to_contain_text("We will send no more marketing email to otto@mail.example.")
    statuses = set(Subscription.objects.filter(pk__in=[subscription.pk, other.pk]).values_list("status", flat=True))
    assert statuses == {SubscriptionStatus.UNSUBSCRIBED}


def test_preference_centre_from_an_email_changes_topics_and_sharing_without_logging_in(page, site_url, screenshot):
    # Given a confirmed subscriber on two topics, who has not objected to sharing
    subscriber = ConfirmedSubscriberFactory(email="june@mail.example")
    general = SubscriptionFactory(subscriber=subscriber)
    bridal = SubscriptionFactory(
        subscriber=subscriber, topic=TopicFactory(name="Bridal", description="Engagement and wedding rings.")
    )
    Topic.objects.filter(pk=bridal.topic_id).update(position=1)
    link = preferences_url(subscriber=subscriber)
    assert link.startswith(f"{site_url}/newsletter/preferences/")

    # When the preference centre link is opened, no login is asked for and the boxes show the current choices
    page.goto(link)
    expect(page).to_have_url(link)
    expect(page.get_by_role("heading", name="Newsletter Subscription", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Sent to june@mail.example")
    expect(page.get_by_label("General Subscription", exact=True)).to_be_checked()
    expect(page.get_by_label("Bridal", exact=True)).to_be_checked()
    objection = page.get_by_label("Do not share my details with carefully selected third parties.")
    expect(objection).not_to_be_checked()
    screenshot(page, "10-preference-centre")

    # When they untick Bridal, object to sharing and save
    page.get_by_label("Bridal", exact=True).uncheck()
    objection.check()
    page.get_by_role("button", name="Save preferences").click()

    # Then the page confirms it, the boxes show the new choices, and the database agrees
    expect(page.get_by_role("status")).to_contain_text("You will no longer receive: Bridal.")
    expect(page.get_by_label("Bridal", exact=True)).not_to_be_checked()
    expect(page.get_by_label("General Subscription", exact=True)).to_be_checked()
    expect(page.get_by_label("Do not share my details with carefully selected third parties.")).to_be_checked()
    general.refresh_from_db()
    bridal.refresh_from_db()
    assert (general.status, bridal.status) == (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNSUBSCRIBED)
    assert third_party_objection_exists(email="june@mail.example")
    assert ConsentEvent.objects.filter(
        subscriber=subscriber,
        topic=bridal.topic,
        action=ConsentAction.WITHDRAWN,
        source=ConsentSource.PREFERENCE_CENTRE,
    ).exists()
    screenshot(page, "11-preference-centre-saved")


def test_a_tampered_preference_link_is_refused(page, site_url):
    subscriber = ConfirmedSubscriberFactory()
    link = preferences_url(subscriber=subscriber)

    response = page.goto(link[:-3] + "xx/")

    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text(subscriber.email)


def test_log_in_and_correct_my_details(page, site_url, screenshot):
    # Given a customer with an account
    user = UserFactory(email="clara@mail.example", first_name="Clara")
    page.goto("/account/details/")
    expect(page).to_have_url(f"{site_url}/accounts/login/?next=/account/details/")
    screenshot(page, "12-login")

    # A wrong password is refused with a clear message
    page.get_by_label("Email address").fill("clara@mail.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That email address and password do not match an account.")

    # When they log in, they arrive at the page they asked for
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site_url}/account/details/")
    expect(page.get_by_label("Town or city")).to_have_value("Birmingham")
    screenshot(page, "13-my-details")

    # And correct their town and postcode
    page.get_by_label("Town or city").fill("Solihull")
    page.get_by_label("Postcode").fill("b91 3qb")
    page.get_by_role("button", name="Save details").click()

    # Then the page confirms it and the profile holds the corrected, normalised values
    expect(page.get_by_role("status")).to_have_text("Your details have been saved.")
    expect(page.get_by_label("Postcode")).to_have_value("B91 3QB")
    user.profile.refresh_from_db()
    assert (user.profile.town, user.profile.postcode) == ("Solihull", "B91 3QB")

    page.get_by_role("navigation", name="Account pages").get_by_role("link", name="Privacy and my data").click()
    expect(page.get_by_role("heading", name="Privacy and my data", level=1)).to_be_visible()
    screenshot(page, "14-privacy")


def test_public_signup_form_sends_a_confirmation_email(page, outbox, screenshot):
    page.goto("/newsletter/subscribe/")
    screenshot(page, "15-newsletter-signup")
    page.get_by_label("Email address").fill("rhea@mail.example")
    page.get_by_label("First name (optional)").fill("Rhea")
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert Subscription.objects.get(subscriber__email="rhea@mail.example").status == SubscriptionStatus.PENDING
    assert CONFIRM_LINK.search(outbox.last_to("rhea@mail.example").text)
    screenshot(page, "16-newsletter-signup-thanks")


def test_erase_my_account_after_reading_what_it_means(page, site_url, screenshot):
    # Given a customer who has proven their address and is subscribed
    user = UserFactory(email="nell@mail.example", first_name="Nell")
    subscriber = ConfirmedSubscriberFactory(email=user.email, user=user)
    SubscriptionFactory(subscriber=subscriber, topic=Topic.objects.get(is_default=True))
    page.goto("/account/privacy/")
    page.get_by_label("Email address").fill("nell@mail.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()

    # When they choose to erase their account, the consequences come first
    page.get_by_role("link", name="Erase my account").click()
    expect(page).to_have_url(f"{site_url}/account/privacy/erase/")
    expect(page.get_by_text("This cannot be undone, and you will be signed out.")).to_be_visible()

    # A wrong password erases nothing
    page.get_by_label("Current password").fill("not it")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Erase my account").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    screenshot(page, "15-erase-wrong-password")
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()

    # With their password and the box ticked, the account is gone and they are signed out
    page.get_by_label("Current password").fill("correct horse battery")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Erase my account").click()
    expect(page.get_by_role("heading", name="Your account has been erased")).to_be_visible()
    screenshot(page, "16-erased")
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    page.goto("/account/")
    expect(page).to_have_url(f"{site_url}/accounts/login/?next=/account/")
