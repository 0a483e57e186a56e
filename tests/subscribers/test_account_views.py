"""Registration, Account Home and its pages, over HTTP: validation, escaping, consent, email changes."""

import re

import pytest
from django.test import Client

from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    CustomerProfile,
    DetailsChange,
    Subscription,
    SubscriptionStatus,
    User,
)
from subscribers.selectors import policy_version_current
from subscribers.wording import MARKETING_OPT_IN, wording_hash
from tests.factories import ConfirmedSubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db

VALID = {
    "first_name": "Ada",
    "last_name": "Byron",
    "email": "  Ada.Byron@Mail.Example ",
    "telephone": "0121 496 0000",
    "address_line1": "3 Filigree Row",
    "address_line2": "",
    "town": "Birmingham",
    "county": "West Midlands",
    "postcode": "b186ab",
    "password1": "a long enough passphrase",
    "password2": "a long enough passphrase",
}


def account_user(**kwargs) -> User:
    """A customer whose account has proven its address, so it manages its mailing-list record."""
    user = UserFactory(**kwargs)
    ConfirmedSubscriberFactory(email=user.email, user=user)
    return user


def register(client, **changes):
    return client.post("/accounts/register/", {**VALID, **changes})


def test_registration_shows_an_unticked_marketing_checkbox(client):
    page = client.get("/accounts/register/").content.decode()

    checkbox = re.search(r'<input type="checkbox" name="marketing_opt_in"[^>]*>', page).group(0)
    assert "checked" not in checkbox
    assert "Email me news and offers" in page


def test_registration_with_opt_in_creates_account_profile_and_pending_subscription(client, run_on_commit, outbox):
    with run_on_commit():
        response = client.post("/accounts/register/", {**VALID, "marketing_opt_in": "on"}, REMOTE_ADDR="203.0.113.77")

    assert response.status_code == 302 and response["Location"] == "/accounts/register/sent/"
    user = User.objects.get()
    assert user.email == "ada.byron@mail.example"
    profile = CustomerProfile.objects.get(user=user)
    assert (profile.telephone, profile.postcode) == ("+441214960000", "B18 6AB")
    subscription = Subscription.objects.get(subscriber__email=user.email)
    assert subscription.status == SubscriptionStatus.PENDING
    assert subscription.topic.name == "General Subscription"
    assert subscription.subscriber.user is None, "the account controls nothing until it proves the address"
    event = ConsentEvent.objects.get()
    assert (event.action, event.source) == (ConsentAction.REQUESTED, ConsentSource.REGISTRATION)
    assert (event.wording_hash, event.ip_truncated) == (wording_hash(MARKETING_OPT_IN), "203.0.113.0")
    (message,) = outbox.to("ada.byron@mail.example")
    assert message.subject == "Confirm your email address for Larkspur & Lune"
    assert "/account/email/confirm/" in message.text and "/newsletter/confirm/" not in message.text
    assert "The same click confirms that you want the emails you asked for when you registered: General" in message.text
    assert "<strong>General Subscription</strong>" in message.html


def _address_link(outbox, address: str) -> str:
    return re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to(address).text).group(0)


def test_the_one_address_link_confirms_the_address_and_the_opt_in_ticked_at_registration(
    client, run_on_commit, outbox
):
    # Given a registration with the box ticked
    with run_on_commit():
        register(client, marketing_opt_in="on")
    link = _address_link(outbox, "ada.byron@mail.example")
    subscription = Subscription.objects.get()

    # When the link is opened, the page names what the click starts, and nothing changes yet
    page = Client().get(link).content.decode()
    assert '<ul class="topic-list"><li>General Subscription</li></ul>' in page
    assert "Yes, this is my address: subscribe me" in page
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PENDING

    # When its button is pressed, from another network than the registration's
    response = Client().post(link, REMOTE_ADDR="198.51.100.23", follow=True)

    # Then the address is proven, the account linked, and the subscription active
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.subscriber.user == User.objects.get()
    assert subscription.subscriber.email_confirmed_at is not None
    assert "You will now receive: General Subscription." in response.content.decode()
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    # And the ledger holds the request and the confirmation: the registration wording, the click's network
    requested, confirmed = ConsentEvent.objects.order_by("pk")
    assert (requested.action, confirmed.action) == (ConsentAction.REQUESTED, ConsentAction.CONFIRMED)
    assert (confirmed.source, confirmed.topic) == (ConsentSource.EMAIL_LINK, subscription.topic)
    assert confirmed.wording_hash == wording_hash(MARKETING_OPT_IN)
    assert confirmed.ip_truncated == "198.51.100.0"
    assert confirmed.policy_version == policy_version_current() is not None
    assert "address confirmation link" in confirmed.detail
    # And the account's Newsletter Subscription page shows it ticked, with no "confirm your address first"
    client.force_login(User.objects.get())
    newsletter = client.get("/account/newsletter/").content.decode()
    assert "Confirm your email address first" not in newsletter
    ticked = r'<input type="checkbox" name="topic_\d+"[^>]*checked[^>]*>\s*<span>General Subscription'
    assert re.search(ticked, newsletter)
    assert len(outbox.all()) == 1, "one email, one click"


def test_a_new_address_link_asked_for_later_carries_the_registration_opt_in(client, run_on_commit, outbox):
    with run_on_commit():
        register(client, marketing_opt_in="on")
    first = _address_link(outbox, "ada.byron@mail.example")
    client.force_login(User.objects.get())

    with run_on_commit():
        client.post("/account/newsletter/", {})  # "send the link again"
    second = _address_link(outbox, "ada.byron@mail.example")

    assert first != second
    assert "General Subscription" in outbox.last_to("ada.byron@mail.example").text
    assert Client().post(first).status_code == 400, "the older link died"
    Client().post(second)
    assert Subscription.objects.get().status == SubscriptionStatus.ACTIVE


def test_without_the_click_the_registration_opt_in_stays_pending(client, run_on_commit, outbox):
    with run_on_commit():
        register(client, marketing_opt_in="on")
    client.force_login(User.objects.get())

    client.get(_address_link(outbox, "ada.byron@mail.example"))  # a mail scanner fetching the link

    assert Subscription.objects.get().status == SubscriptionStatus.PENDING
    assert "Confirm your email address first" in client.get("/account/newsletter/").content.decode()


def test_after_a_complaint_the_registration_opt_in_gets_its_own_email_with_the_explicit_tick(
    client, run_on_commit, outbox
):
    from subscribers.models import SuppressionReason, SuppressionScope
    from subscribers.services import suppression_add

    suppression_add(
        email="ada.byron@mail.example", scope=SuppressionScope.MARKETING, reason=SuppressionReason.COMPLAINT
    )

    with run_on_commit():
        register(client, marketing_opt_in="on")
    subjects = sorted(m.subject for m in outbox.to("ada.byron@mail.example"))
    with run_on_commit():
        Client().post(_address_link(outbox, "ada.byron@mail.example"))

    assert subjects == [
        "Confirm your email address for Larkspur & Lune",
        "Please confirm your subscription to Larkspur & Lune",
    ]
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING, "the address link cannot lift a complaint"


def test_registration_without_opt_in_subscribes_to_nothing_and_only_asks_to_verify_the_address(
    client, run_on_commit, outbox
):
    with run_on_commit():
        register(client)

    assert User.objects.count() == 1
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()
    (message,) = outbox.all()
    assert message.subject == "Confirm your email address for Larkspur & Lune"
    assert "/account/email/confirm/" in message.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "ada@", "Enter a valid email address"),
        ("email", "ada byron@mail.example", "Enter a valid email address"),
        ("email", "a" * 250 + "@mail.example", "at most 254 characters"),
        ("telephone", "12", "too short"),
        ("telephone", "0121 496 00", "does not exist"),
        ("telephone", "0121 496 0000 0000", "too long"),
        ("telephone", "0000 000 0000", "does not exist"),
        ("telephone", "call me", "Enter a valid telephone number"),
        ("postcode", "12345", "Enter a valid UK postcode"),
        ("postcode", "B18", "Enter a valid UK postcode"),
        ("first_name", "x" * 151, "at most 150 characters"),
        ("address_line1", "y" * 101, "at most 100 characters"),
        ("first_name", "Ada\x00", "Null characters are not allowed"),
        ("first_name", "Ada\x1b[31m", "cannot be used"),
        ("first_name", "", "This field is required"),
        ("password2", "something else entirely", "do not match"),
    ],
)
def test_registration_rejects_bad_input_with_a_message_naming_the_field_and_creates_nothing(
    client, field, value, message
):
    response = register(client, **{field: value})

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    field_block = re.search(rf'<label for="id_{field}".*?</div>', html, re.S).group(0)
    assert message in field_block, f"the error for {field} must be shown beside {field}"
    assert not User.objects.exists()


def test_registration_with_a_taken_email_answers_as_for_a_new_one_and_tells_the_owner(client, run_on_commit, outbox):
    # Given an account, and a registration with a new address for comparison
    UserFactory(email="ada.byron@mail.example", first_name="Augusta")
    with run_on_commit():
        new = Client().post("/accounts/register/", {**VALID, "email": "someone.new@mail.example"}, follow=True)

    # When someone registers with the taken address
    with run_on_commit():
        known = client.post("/accounts/register/", VALID, follow=True)

    # Then the answer is the same page, status and wording, and no second account exists
    assert [r for r in known.redirect_chain] == [r for r in new.redirect_chain] == [("/accounts/register/sent/", 302)]
    assert known.status_code == new.status_code == 200
    strip = lambda response, address: response.content.decode().replace(address, "ADDRESS")  # noqa: E731
    assert strip(known, "ada.byron@mail.example") == strip(new, "someone.new@mail.example")
    assert User.objects.filter(email="ada.byron@mail.example").count() == 1
    assert User.objects.get(email="ada.byron@mail.example").first_name == "Augusta", "the account is untouched"
    # And the owner is told, with links to log in and to reset the password
    (notice,) = outbox.to("ada.byron@mail.example")
    assert notice.subject == "Someone tried to register with your address at Larkspur & Lune"
    assert "Hello Augusta" in notice.text
    assert "/accounts/login/" in notice.text and "/accounts/password/reset/" in notice.text
    assert "/account/email/confirm/" not in notice.text


def test_registration_notices_to_a_known_address_are_rate_limited_per_address(
    client, settings, run_on_commit, outbox
):
    settings.ACCOUNT_EMAIL_RATE = "2/h"
    UserFactory(email="ada.byron@mail.example")

    with run_on_commit():
        statuses = [Client().post("/accounts/register/", VALID).status_code for _ in range(3)]
        unknown = [
            Client().post("/accounts/register/", {**VALID, "email": "nobody@mail.example"}).status_code
            for _ in range(3)
        ]

    assert statuses == unknown == [302, 302, 429], "known and unknown addresses are limited alike"
    assert len(outbox.to("ada.byron@mail.example")) == 2


def test_unicode_names_are_kept_and_html_in_names_is_escaped_everywhere(client, run_on_commit, outbox):
    with run_on_commit():
        register(client, first_name="Zoë <script>alert(1)</script>", last_name="Ó Briain-Ñuñez", marketing_opt_in="on")

    user = User.objects.get()
    assert user.first_name == "Zoë <script>alert(1)</script>"
    assert user.last_name == "Ó Briain-Ñuñez"
    client.force_login(user)
    home = client.get("/account/").content.decode()
    assert "<script>alert(1)</script>" not in home
    assert "Zoë &lt;script&gt;alert(1)&lt;/script&gt;" in home
    message = outbox.last_to(user.email)
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "Zoë <script>alert(1)</script>" in message.text  # plain text is not HTML: shown as typed


def test_registration_post_without_csrf_token_is_rejected():
    response = Client(enforce_csrf_checks=True).post("/accounts/register/", VALID)

    assert response.status_code == 403
    assert not User.objects.exists()


def test_account_pages_need_login(client):
    for path in ["/account/", "/account/details/", "/account/newsletter/", "/account/privacy/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_login_uses_the_email_address_in_any_case(client):
    UserFactory(email="ada@mail.example")

    response = client.post("/accounts/login/", {"username": "ADA@mail.example", "password": "correct horse battery"})

    assert response.status_code == 302 and response["Location"] == "/account/"


def test_account_home_links_to_details_newsletter_subscription_and_privacy(client):
    client.force_login(UserFactory())

    html = client.get("/account/").content.decode()

    for href, label in [
        ("/account/details/", "My details"),
        ("/account/newsletter/", "Newsletter Subscription"),
        ("/account/privacy/", "Privacy and my data"),
    ]:
        assert re.search(rf'<a[^>]+href="{href}"[^>]*>.*?{label}', html, re.S), label


def test_newsletter_page_has_a_general_subscription_box_other_topics_and_the_objection(client):
    TopicFactory(name="Private Sales")
    user = account_user()
    client.force_login(user)

    html = client.get("/account/newsletter/").content.decode()

    assert re.search(r'<input type="checkbox" name="topic_\d+"[^>]*>\s*<span>General Subscription</span>', html)
    assert "<span>Private Sales</span>" in html
    assert 'name="third_party_objection"' in html


def test_unticking_general_subscription_withdraws_immediately(client):
    user = UserFactory()
    subscription = SubscriptionFactory(subscriber__email=user.email, subscriber__user=user)
    client.force_login(user)

    response = client.post("/account/newsletter/", {}, follow=True)

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert b"You will no longer receive: General Subscription" in response.content
    event = ConsentEvent.objects.get()
    assert (event.action, event.source) == (ConsentAction.WITHDRAWN, ConsentSource.ACCOUNT_PAGE)
    page = client.get("/account/newsletter/").content.decode()
    assert not re.search(r'<input type="checkbox" name="topic_\d+"[^>]*checked[^>]*>\s*<span>General', page)


def test_ticking_on_the_account_page_after_a_complaint_starts_double_opt_in(client, general, run_on_commit, outbox):
    from subscribers.models import SuppressionReason, SuppressionScope
    from subscribers.services import suppression_add

    user = account_user()
    suppression_add(email=user.email, scope=SuppressionScope.ALL, reason=SuppressionReason.COMPLAINT)
    client.force_login(user)

    with run_on_commit():
        response = client.post("/account/newsletter/", {f"topic_{general.pk}": "on"}, follow=True)

    assert Subscription.objects.get().status == SubscriptionStatus.PENDING
    assert b"a link to confirm" in response.content
    assert "/newsletter/confirm/" in outbox.last_to(user.email).text


def test_third_party_objection_from_the_account_page_is_recorded(client):
    client.force_login(account_user())

    client.post("/account/newsletter/", {"third_party_objection": "on"})

    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action) == ("third_party", ConsentAction.OBJECTED)
    page = client.get("/account/newsletter/").content.decode()
    assert "Your objection to sharing is recorded: we will not share your details with third parties." in page


def test_correcting_details_records_which_fields_changed_but_not_the_values(client):
    user = UserFactory()
    client.force_login(user)
    data = {
        "details-first_name": "Ada",
        "details-last_name": "King",
        "details-telephone": "07911 123456",
        "details-address_line1": "1 Test Street",
        "details-address_line2": "",
        "details-town": "Birmingham",
        "details-county": "",
        "details-postcode": "B18 6AA",
    }

    response = client.post("/account/details/", data)

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.last_name, user.profile.telephone) == ("King", "+447911123456")
    change = DetailsChange.objects.get()
    assert sorted(change.fields) == ["last_name", "telephone"]
    assert "King" not in str(change.fields) and "7911" not in str(change.fields)


def test_invalid_details_change_nothing(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post("/account/details/", {"details-first_name": "", "details-postcode": "nope"})

    assert b"Enter a valid UK postcode" in response.content
    assert not DetailsChange.objects.exists()
    user.refresh_from_db()
    assert user.first_name == "Ada"


def test_change_of_email_is_used_only_after_the_new_address_confirms_it(client, run_on_commit, outbox):
    user = UserFactory(email="old@mail.example")
    subscription = SubscriptionFactory(subscriber__email="old@mail.example", subscriber__user=user)
    client.force_login(user)

    with run_on_commit():
        client.post(
            "/account/details/", {"email-new_email": "New@Mail.Example", "email-password": "correct horse battery"}
        )

    user.refresh_from_db()
    assert user.email == "old@mail.example"
    link = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("new@mail.example").text).group(0)
    assert client.get(link).status_code == 200
    user.refresh_from_db()
    assert user.email == "old@mail.example", "GET must not change the address"

    client.post(link)

    user.refresh_from_db()
    subscription.refresh_from_db()
    assert user.email == "new@mail.example"
    assert subscription.subscriber.email == "new@mail.example"
    from subscribers.addresses import address_hmac

    assert subscription.subscriber.address_hmac == address_hmac("new@mail.example")
    assert client.post(link).status_code == 400, "the link dies once used"


def test_change_of_email_needs_the_current_password(client, outbox):
    user = UserFactory(email="old@mail.example")
    client.force_login(user)

    response = client.post("/account/details/", {"email-new_email": "new@mail.example", "email-password": "wrong"})

    assert b"That is not your current password" in response.content
    assert outbox.all() == []


def test_registering_with_an_address_already_on_the_list_does_not_take_over_its_subscriptions(
    client, run_on_commit, outbox
):
    # Given someone subscribed without an account, with a confirmed address and an objection to sharing
    owner_subscription = SubscriptionFactory(subscriber__email="owner@mail.example", subscriber__user=None)
    from subscribers.models import SuppressionReason, SuppressionScope
    from subscribers.services import suppression_add

    suppression_add(email="owner@mail.example", scope=SuppressionScope.THIRD_PARTY, reason=SuppressionReason.OBJECTED)

    # When another person registers an account with that address
    with run_on_commit():
        register(client, email="owner@mail.example")
    client.force_login(User.objects.get(email="owner@mail.example"))

    # Then the account is not linked and cannot see or change the owner's choices
    owner_subscription.subscriber.refresh_from_db()
    assert owner_subscription.subscriber.user is None
    page = client.get("/account/newsletter/").content.decode()
    assert "Confirm your email address first" in page
    assert "General Subscription" not in page
    with run_on_commit():
        client.post("/account/newsletter/", {})  # an attempt to untick: only asks for proof again
    owner_subscription.refresh_from_db()
    assert owner_subscription.status == SubscriptionStatus.ACTIVE
    assert ConsentEvent.objects.count() == 0
    # ...and the address itself was sent a link to prove it
    verify = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("owner@mail.example").text).group(0)

    # When the mailbox owner uses the link, the account adopts the record
    client.post(verify)
    owner_subscription.subscriber.refresh_from_db()
    assert owner_subscription.subscriber.user == User.objects.get(email="owner@mail.example")
    assert "General Subscription" in client.get("/account/newsletter/").content.decode()


def test_change_of_email_tells_the_old_address_and_retires_older_links(client, run_on_commit, outbox):
    user = UserFactory(email="old@mail.example")
    client.force_login(user)
    data = {"email-password": "correct horse battery"}
    with run_on_commit():
        client.post("/account/details/", {**data, "email-new_email": "first@mail.example"})
        client.post("/account/details/", {**data, "email-new_email": "second@mail.example"})
    first = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("first@mail.example").text).group(0)
    second = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("second@mail.example").text).group(0)

    assert client.post(first).status_code == 400
    with run_on_commit():
        client.post(second)

    user.refresh_from_db()
    assert user.email == "second@mail.example"
    notice = outbox.last_to("old@mail.example")
    assert "has changed" in notice.subject
    assert "second@mail.example" in notice.text


def test_registration_errors_are_counted_in_a_summary_above_the_form(client):
    response = register(client, postcode="nope", telephone="12")

    assert "Please correct the 2 fields marked below." in response.content.decode()


def test_an_account_registered_with_someone_elses_address_never_controls_their_subscriptions(
    client, run_on_commit, outbox
):
    # Given Eve registers an account with the victim's address, without opting in
    with run_on_commit():
        register(client, email="victim@mail.example")
    client.force_login(User.objects.get(email="victim@mail.example"))
    # And the victim later subscribes on the public form and confirms, and objects to sharing
    with run_on_commit():
        Client().post("/newsletter/subscribe/", {"email": "victim@mail.example"})
    confirm = re.search(r"/newsletter/confirm/[^/\s]+/", outbox.last_to("victim@mail.example").text).group(0)
    Client().post(confirm)
    from subscribers.models import Subscriber
    from subscribers.services import third_party_objection_set

    victim = Subscriber.objects.get(email="victim@mail.example")
    third_party_objection_set(subscriber=victim, objects=True, source=ConsentSource.EMAIL_LINK)
    private_sales = TopicFactory(name="Private Sales")
    events_before = ConsentEvent.objects.count()

    # When Eve opens Newsletter Subscription and posts a form ticking topics and unticking the objection
    page = client.get("/account/newsletter/").content.decode()
    with run_on_commit():
        client.post("/account/newsletter/", {f"topic_{private_sales.pk}": "on"})

    # Then she sees nothing of the victim's choices and changes nothing
    assert "Confirm your email address first" in page and "General Subscription" not in page
    victim.refresh_from_db()
    assert victim.user is None
    assert not victim.subscriptions.filter(topic=private_sales).exists()
    assert ConsentEvent.objects.count() == events_before
    from subscribers.selectors import third_party_objection_exists

    assert third_party_objection_exists(email="victim@mail.example")


def test_an_objection_to_sharing_follows_the_person_to_a_new_address(client, run_on_commit, outbox):
    from subscribers.selectors import third_party_objection_exists

    user = account_user(email="old@mail.example")
    client.force_login(user)
    client.post("/account/newsletter/", {"third_party_objection": "on"})
    with run_on_commit():
        client.post(
            "/account/details/", {"email-new_email": "new@mail.example", "email-password": "correct horse battery"}
        )
    link = re.search(r"/account/email/confirm/[^/\s]+/", outbox.last_to("new@mail.example").text).group(0)

    client.post(link)

    assert third_party_objection_exists(email="new@mail.example")
    page = client.get("/account/newsletter/").content.decode()
    assert re.search(r'name="third_party_objection"[^>]*checked', page)


def test_links_sent_from_the_account_pages_are_rate_limited(client, settings, run_on_commit, outbox):
    settings.ACCOUNT_EMAIL_RATE = "3/h"
    client.force_login(UserFactory(email="owner@mail.example"))

    with run_on_commit():
        statuses = [
            client.post(
                "/account/details/", {"email-new_email": f"t{i}@mail.example", "email-password": "x"}
            ).status_code
            for i in range(2)
        ] + [client.post("/account/newsletter/", {}).status_code for _ in range(3)]

    assert statuses == [200, 200, 302, 429, 429]
    assert len(outbox.to("owner@mail.example")) == 1
