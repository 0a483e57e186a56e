"""Seed the demo: an invented jeweller's staff account, topics and customers, all through the services."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from subscribers.models import ConsentSource, Partner, PrivacyPolicyVersion, Subscriber, Topic, User
from subscribers.services import (
    RegistrationDetails,
    account_register,
    privacy_policy_publish,
    subscriber_get_or_create,
    subscription_give,
    subscription_request,
    subscription_withdraw,
    third_party_objection_set,
)
from subscribers.wording import MARKETING_OPT_IN, PUBLIC_SIGNUP

STAFF_EMAIL = "admin@larkspur-lune.example"
STAFF_PASSWORD = "demo-admin-pass"  # noqa: S105 - printed for the demo; the demo is local only
CUSTOMER_EMAIL = "ada@customer.example"
CUSTOMER_PASSWORD = "demo-customer-pass"  # noqa: S105

TOPICS = [
    ("new-collections", "New Collections", "First look at each new collection.", 1),
    ("private-sales", "Private Sales", "Invitations to members-only sales.", 2),
    ("feedback", "Feedback Requests", "Occasional questions about your orders and our service.", 3),
]

# An invented partner, so that staff can try a partner export; one demo subscriber objected to sharing.
DEMO_PARTNER = {
    "name": "Fernhollow Engraving Co.",
    "purpose": "Offers of engraving and gift wrapping for jewellery bought from us",
    "contract_reference": "LL-DSA-2026-01",
}
DEMO_OBJECTOR = "margaret@customer.example"

PUBLIC_SIGNUPS = [
    ("grace@customer.example", "Grace", "active"),
    ("alan@customer.example", "Alan", "pending"),
    ("edsger@customer.example", "Edsger", "unsubscribed"),
    ("barbara@customer.example", "Barbara", "active"),
    ("margaret@customer.example", "Margaret", "active"),
]


# The demo's second policy version, published after the demo customer registered, so that Account Home shows them
# the "our privacy policy changed" notice. Invented for the invented jeweller.
DEMO_POLICY_VERSION = "2.0"
DEMO_POLICY_SUMMARY = (
    "We now say how long we keep your order history (six years) and newsletter records, and how to ask for a copy."
)
DEMO_POLICY_TEXT = """Larkspur & Lune: how we look after your details

What we keep. When you open an account we keep your name, email address, telephone number and postal address,
so that we can run your account and deliver what you order. We never keep card numbers: payments are handled
by our payment provider.

Our emails. We only send news and offers if you ask for them and confirm your address. Every email has a link
to stop them, and you can choose topics at any time from Newsletter Subscription in your account.

Sharing. We do not pass your details to other companies for their own marketing if you tell us not to; tick the
box on Newsletter Subscription.

How long. We keep order history for six years, because the law on accounts asks us to. Newsletter records are
kept while you are subscribed, and a note that you unsubscribed is kept so that we never email you by mistake.

Your rights. You can correct your details, ask for a copy of everything we hold, or ask us to erase your account,
from Privacy and my data in your account, or by writing to our workshop.

Changes. When this policy changes we show a notice in your account and keep every earlier version online."""


class Command(BaseCommand):
    help = "Create demo data (idempotent): a staff login, topics, a customer account and some subscribers."

    @transaction.atomic
    def handle(self, *args, **options):
        if not User.objects.filter(email=STAFF_EMAIL).exists():
            User.objects.create_superuser(
                email=STAFF_EMAIL, password=STAFF_PASSWORD, first_name="Demo", last_name="Admin"
            )
        for slug, name, description, position in TOPICS:
            Topic.objects.get_or_create(
                slug=slug, defaults={"name": name, "description": description, "position": position}
            )
        if not User.objects.filter(email=CUSTOMER_EMAIL).exists():
            user = account_register(
                details=RegistrationDetails(
                    email=CUSTOMER_EMAIL,
                    password=CUSTOMER_PASSWORD,
                    first_name="Ada",
                    last_name="Byron",
                    telephone="+441214960000",
                    address_line1="3 Filigree Row",
                    address_line2="",
                    town="Birmingham",
                    county="West Midlands",
                    postcode="B18 6AB",
                    marketing_opt_in=False,
                )
            )
            # The demo customer proved the address long ago: their account manages its record.
            subscriber = subscriber_get_or_create(email=CUSTOMER_EMAIL, first_name="Ada", user=user)
            self._confirm(subscriber)
            subscription_give(
                subscriber=subscriber,
                topic=Topic.objects.get(is_default=True),
                source=ConsentSource.REGISTRATION,
                wording=MARKETING_OPT_IN,
            )
        # Only on top of the placeholder version the first migration records; never over staff's own versions.
        if PrivacyPolicyVersion.objects.count() == 1:
            privacy_policy_publish(
                version=DEMO_POLICY_VERSION,
                text=DEMO_POLICY_TEXT,
                summary=DEMO_POLICY_SUMMARY,
                published_by=User.objects.get(email=STAFF_EMAIL),
            )
        general = Topic.objects.get(is_default=True)
        for email, first_name, status in PUBLIC_SIGNUPS:
            if Subscriber.objects.filter(email=email).exists():
                continue
            subscriber = subscriber_get_or_create(email=email, first_name=first_name)
            if status == "pending":
                subscription_request(
                    subscriber=subscriber, topics=[general], source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
                )
                continue
            self._confirm(subscriber)
            subscription = subscription_give(
                subscriber=subscriber, topic=general, source=ConsentSource.PUBLIC_FORM, wording=PUBLIC_SIGNUP
            )
            if status == "unsubscribed":
                subscription_withdraw(subscription=subscription, source=ConsentSource.EMAIL_LINK, reason="too_many")
        self._partner()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Staff: {STAFF_EMAIL} / {STAFF_PASSWORD}. "
                f"Customer: {CUSTOMER_EMAIL} / {CUSTOMER_PASSWORD}."
            )
        )

    @staticmethod
    def _partner() -> None:
        _, created = Partner.objects.get_or_create(name=DEMO_PARTNER["name"], defaults=DEMO_PARTNER)
        objector = Subscriber.objects.filter(email=DEMO_OBJECTOR).first()
        if created and objector:
            third_party_objection_set(subscriber=objector, objects=True, source=ConsentSource.ACCOUNT_PAGE)

    @staticmethod
    def _confirm(subscriber: Subscriber) -> None:
        # Demo people proved their addresses long ago; this stands in for that earlier click.
        subscriber.email_confirmed_at = timezone.now()
        subscriber.save(update_fields=["email_confirmed_at"])
