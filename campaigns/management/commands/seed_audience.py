"""Seed a demo audience big enough to watch a send progress: thousands of confirmed, active subscribers."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from subscribers.addresses import address_hmac
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Topic,
)

DEFAULT_COUNT = 3000
FIRST_NAMES = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Margaret", "Donald", "Frances", "Claude", "Radia"]


def demo_address(number: int) -> str:
    # .example is reserved (RFC 2606): these addresses can never reach a real person.
    return f"reader{number:05d}@audience.example"


class Command(BaseCommand):
    help = "Create N active demo subscribers of the default topic (idempotent; 3,000 unless --count is given)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="How many demo subscribers in all.")

    @transaction.atomic
    def handle(self, *args, count: int, **options):
        # Demo data only, so rows are bulk-created rather than created one by one through the services (which
        # would take minutes for thousands); each still gets its address HMAC and an "imported" consent event.
        general = Topic.objects.get(is_default=True)
        now = timezone.now()
        emails = [demo_address(n) for n in range(1, count + 1)]
        existing = set(Subscriber.objects.filter(email__in=emails).values_list("email", flat=True))
        new = [
            Subscriber(
                email=email,
                address_hmac=address_hmac(email),
                first_name=FIRST_NAMES[n % len(FIRST_NAMES)],
                email_confirmed_at=now,
            )
            for n, email in enumerate(emails)
            if email not in existing
        ]
        created = Subscriber.objects.bulk_create(new, batch_size=1000)
        created = list(Subscriber.objects.filter(email__in=[s.email for s in created]))
        Subscription.objects.bulk_create(
            [
                Subscription(
                    subscriber=s, topic=general, status=SubscriptionStatus.ACTIVE, requested_at=now, confirmed_at=now
                )
                for s in created
            ],
            batch_size=1000,
        )
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    subscriber=s,
                    topic=general,
                    purpose=ConsentPurpose.MARKETING,
                    action=ConsentAction.IMPORTED,
                    source=ConsentSource.IMPORT,
                    occurred_at=now,
                    detail="demo audience",
                )
                for s in created
            ],
            batch_size=1000,
        )
        self.stdout.write(
            self.style.SUCCESS(f"Demo audience ready: {count:,} subscribers of {general.name} ({len(created):,} new).")
        )
