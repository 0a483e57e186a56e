"""factory_boy factories. They build rows directly: tests of services call services for the change under test."""

import factory
from django.utils import timezone

from subscribers.addresses import address_hmac
from subscribers.models import CustomerProfile, Subscriber, Subscription, SubscriptionStatus, Topic, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@shop.example")
    first_name = "Ada"
    last_name = "Byron"
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def with_profile(self, create, extracted, **kwargs):
        if create:
            self.save()
            CustomerProfile.objects.create(
                user=self,
                telephone="+441214960000",
                address_line1="1 Test Street",
                town="Birmingham",
                postcode="B18 6AA",
            )


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@mail.example")
    address_hmac = factory.LazyAttribute(lambda o: address_hmac(o.email))
    first_name = "Grace"


class ConfirmedSubscriberFactory(SubscriberFactory):
    email_confirmed_at = factory.LazyFunction(timezone.now)


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.Sequence(lambda n: f"topic-{n}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    subscriber = factory.SubFactory(ConfirmedSubscriberFactory)
    topic = factory.LazyFunction(lambda: Topic.objects.get(is_default=True))
    status = SubscriptionStatus.ACTIVE
    confirmed_at = factory.LazyFunction(timezone.now)


# The roles the data migrations make (docs/roles.md), by the names staff see in Settings > Groups.
EDITORS, SENDERS, PRIVACY_OFFICERS = "Campaign editors", "Campaign senders", "Privacy officers"


def staff_in_role(role: str, email: str) -> User:
    """A staff account whose only permissions are those of the role ``role`` (a group the migrations made)."""
    from django.contrib.auth.models import Group

    user = UserFactory(email=email, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user
