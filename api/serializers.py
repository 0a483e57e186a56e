"""What the API reads and writes, field by field. Validation of shape only: the rules live in the services."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from subscribers.attributevalues import attribute_value_shown
from subscribers.models import Attribute, LawfulBasis, Subscriber, Subscription, SubscriptionStatus, Topic
from subscribers.selectors import subscriber_attribute_values, topics_offered


class TopicSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Topic
        fields = ["slug", "name", "description", "active"]


class SubscriptionSerializer(serializers.ModelSerializer):
    topic = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Subscription
        fields = ["topic", "status", "confirmed_at", "unsubscribed_at"]


class AttributeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attribute
        fields = ["key", "label", "type", "choices", "position"]


class SubscriberSerializer(serializers.ModelSerializer):
    """A subscriber as the API shows it. ``objects_to_sharing`` and ``attributes`` come from the view's context
    (looked up for a whole page at once): the first by the address's keyed hash, the second by subscriber id."""

    subscriptions = SubscriptionSerializer(many=True, read_only=True)
    objects_to_sharing = serializers.SerializerMethodField()
    attributes = serializers.SerializerMethodField(
        help_text="The person's attribute values by key: text, a number, a date (YYYY-MM-DD), true or false, or one "
        "of the attribute's choices. Attributes without a value are left out."
    )

    class Meta:
        model = Subscriber
        fields = [
            "public_id",
            "email",
            "first_name",
            "created_at",
            "email_confirmed_at",
            "subscriptions",
            "objects_to_sharing",
            "attributes",
        ]

    def get_objects_to_sharing(self, subscriber) -> bool:
        return subscriber.address_hmac in self.context.get("objecting_hmacs", ())

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_attributes(self, subscriber) -> dict:
        by_subscriber = self.context.get("attribute_values")
        values = by_subscriber[subscriber.pk] if by_subscriber is not None else subscriber_attribute_values(
            subscriber=subscriber
        )
        return {key: attribute_value_shown(value) for key, value in values.items()}


class SubscriberReceiptSerializer(serializers.Serializer):
    """What a change answers to a key without ``subscribers:read``: the subscriber's id, to name them in later calls,
    and nothing of the record, so that a key that may only write cannot read people by address."""

    public_id = serializers.UUIDField(read_only=True)


# A change answers with the subscriber (a key holding subscribers:read) or with the receipt (a key without it).
SubscriberAnswer = PolymorphicProxySerializer(
    component_name="SubscriberAnswer",
    serializers=[SubscriberSerializer, SubscriberReceiptSerializer],
    resource_type_field_name=None,
)


class AttributeValuesField(serializers.DictField):
    """``{key: value}``: the values are checked by the attribute service, by each attribute's type; here only the
    shape (an object) is."""

    child = serializers.JSONField(allow_null=True)


class TopicSlugsField(serializers.ListField):
    """Topic slugs, each naming an active topic; the value is the list of Topic rows, in the order given."""

    child = serializers.SlugField(max_length=100)

    def to_internal_value(self, data):
        slugs = list(dict.fromkeys(super().to_internal_value(data)))
        topics = {topic.slug: topic for topic in topics_offered().filter(slug__in=slugs)}
        unknown = [slug for slug in slugs if slug not in topics]
        if unknown:
            offered = ", ".join(topics_offered().values_list("slug", flat=True))
            raise serializers.ValidationError(
                f"No active topic has the slug {', '.join(unknown)}. The topics are: {offered}."
            )
        return [topics[slug] for slug in slugs]


class ConsentEvidenceSerializer(serializers.Serializer):
    """Evidence of consent given elsewhere, as the CSV import asks for it (docs/imports.md)."""

    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    source = serializers.CharField(allow_blank=True, default="", max_length=100, trim_whitespace=False)
    date = serializers.DateTimeField(
        required=False, allow_null=True, default=None, input_formats=["iso-8601", "%Y-%m-%d"]
    )
    wording = serializers.CharField(allow_blank=True, default="", max_length=10_000, trim_whitespace=False)
    policy_version = serializers.CharField(allow_blank=True, default="", max_length=20)
    order_reference = serializers.CharField(allow_blank=True, default="", max_length=64, trim_whitespace=False)


class SubscriberCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(allow_blank=True, default="", max_length=150, trim_whitespace=False)
    topics = TopicSlugsField(required=False, min_length=1, help_text="Topic slugs; the default topic when omitted.")
    consent = ConsentEvidenceSerializer(
        required=False,
        help_text="Evidence of consent given elsewhere: subscribes at once under the CSV import's rules. "
        "Without it, the person is sent a confirmation email (double opt-in).",
    )
    attributes = AttributeValuesField(
        required=False, help_text="Attribute values by key (GET /api/v1/attributes/ lists the keys and types)."
    )


class SubscriberLookupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class SubscriberUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(allow_blank=True, max_length=150, trim_whitespace=False)
    attributes = AttributeValuesField(
        help_text="Attribute values to set by key; null or \"\" clears one. Attributes not named keep their values."
    )


class TopicsSetSerializer(serializers.Serializer):
    topics = TopicSlugsField(allow_empty=True)


class ObjectionSerializer(serializers.Serializer):
    objects = serializers.BooleanField()


class SubscriberListFilterSerializer(serializers.Serializer):
    topic = serializers.SlugField(required=False)
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices, required=False)


@extend_schema_field(SubscriberAnswer)
class SubscriberAnswerField(serializers.JSONField):
    """The subscriber as ``_show`` gives them: the record, or the receipt for a key without subscribers:read."""


class TopicsOutcomeSerializer(serializers.Serializer):
    """What setting topics did. The three lists only for a key holding subscribers:read: together they tell the
    person's topics before the change."""

    requested = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Confirmation email sent for these."
    )
    withdrawn = serializers.ListField(child=serializers.CharField(), required=False)
    unchanged = serializers.ListField(child=serializers.CharField(), required=False)
    subscriber = SubscriberAnswerField()


class ErasedSerializer(serializers.Serializer):
    erased = serializers.BooleanField()


class AccessExportSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="“preparing”: the link goes to the person's own confirmed address.")
