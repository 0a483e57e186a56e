"""What the campaigns and sends endpoints read and write, as JSON.

A send's progress is the admin's progress page's numbers (``campaigns.sending.selectors``); its results are the
report's aggregates (``campaigns.results.report``) under the same privacy floor: a count of 1 to 4 people is given as
``{"count": null, "shown": "<5"}``, never as a number, and a rate with so few people behind it has no percentage. A
count that would give such a count away by subtraction from the others given (a sum with exactly one hidden part) is
withheld too: ``{"count": null, "shown": "hidden"}``. The progress's failed, skipped and unknown rows are people too:
they follow the same rules (null when hidden). Nothing here names or lists a person.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import CampaignPage, Send, SendState
from campaigns.results.report import OUTCOME_COUNTS, REPORT_RATES, count_hidden, count_shown, outcomes_withheld
from subscribers.links import absolute

# Campaign ---------------------------------------------------------------------------------------------------------


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign page: what its live version says (the page's row holds the published content) and where staff edit
    it."""

    topics = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    status = serializers.SerializerMethodField(help_text="`live` when published, else `draft`.")
    last_published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    admin_url = serializers.SerializerMethodField(help_text="The campaign's page in the admin.")
    sends_url = serializers.SerializerMethodField(help_text="Its sends in this API.")

    class Meta:
        model = CampaignPage
        fields = [
            "id",
            "title",
            "subject",
            "topics",
            "status",
            "has_unpublished_changes",
            "last_published_at",
            "admin_url",
            "sends_url",
        ]
        read_only_fields = fields

    def get_status(self, page) -> str:
        return "live" if page.live else "draft"

    def get_admin_url(self, page) -> str:
        return absolute(reverse("wagtailadmin_pages:edit", args=[page.pk]))

    def get_sends_url(self, page) -> str:
        return absolute(reverse("api:campaign_sends", args=[page.pk]))


# Send -------------------------------------------------------------------------------------------------------------

PROGRESS_FIELDS = (
    "queued",
    "claimed",
    "sent",
    "failed",
    "skipped",
    "unknown",
    "in_flight",
    "done",
    "remaining",
    "percent",
    "rate",
    "eta_seconds",
)


class ProgressSerializer(serializers.Serializer):
    """The ledger's rows by state, as the admin's progress page counts them (operational counts of messages, not
    results about people)."""

    queued = serializers.IntegerField(help_text="Waiting for a worker.")
    claimed = serializers.IntegerField(help_text="Held by a worker.")
    sent = serializers.IntegerField(help_text="Accepted by SES.")
    failed = serializers.IntegerField(allow_null=True, help_text="Null when hidden (1 to 4, or would give one away).")
    skipped = serializers.IntegerField(
        allow_null=True,
        help_text="Left out at the last check (unsubscribed, suppressed, cancelled). Null when hidden, as failed.",
    )
    unknown = serializers.IntegerField(
        allow_null=True, help_text="In doubt: a worker was lost during the SES call. Null when hidden, as failed."
    )
    in_flight = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Rows with an outcome.")
    remaining = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Done out of total, rounded down to 0.1.")
    rate = serializers.FloatField(
        allow_null=True, help_text="Messages per second over the last 10 s of sending (single send only)."
    )
    eta_seconds = serializers.IntegerField(allow_null=True, help_text="Time left at that rate, while sending.")


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        allow_null=True,
        help_text="Null when 1 to 4 (below the minimum group size), or when, with the counts given beside it, it "
        "would give such a count away by subtraction.",
    )
    shown = serializers.CharField(help_text='As the admin shows it: "0", "<5", "1,234", or "hidden".')


class RateSerializer(serializers.Serializer):
    percent = serializers.FloatField(allow_null=True, help_text="Null when hidden or when nothing was accepted.")
    shown = serializers.CharField()
    hidden = serializers.BooleanField()
    why = serializers.CharField(allow_blank=True)


class LinkSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    url = serializers.CharField()
    clicks = CountSerializer()


class ResultsSerializer(serializers.Serializer):
    min_group_size = serializers.IntegerField()
    counts = serializers.DictField(child=CountSerializer())
    rates = serializers.DictField(child=RateSerializer())
    clicks = CountSerializer()
    links = LinkSerializer(many=True)
    opens = CountSerializer(allow_null=True, help_text="Null unless the campaign counted opens.")


def count_given(count: int, *, withheld: bool = False) -> dict:
    """A count as the API gives it: the number, or null with "<5" when 1 to 4 people are behind it, or null with
    "hidden" when it is ``withheld`` (it would give away a hidden count by subtraction)."""
    if withheld:
        return {"count": None, "shown": "hidden"}
    return {"count": None if count_hidden(count) else count, "shown": count_shown(count)}


def rate_given(rate: dict, numerator: int, denominator: int) -> dict:
    """A rate as the report shows it (``send_report``'s ``rates``), with its percentage as a number when it may be
    shown."""
    percent = None if rate["hidden"] or not denominator else round(100 * numerator / denominator, 2)
    return {"percent": percent, "shown": rate["shown"], "hidden": rate["hidden"], "why": rate["why"]}


def results_given(report: dict, *, opens: int | None) -> dict:
    """The report of ``send_report`` for the API: every count and rate under the privacy floor, withheld where the
    report withholds it."""
    counts, withheld = report["counts"], report["withheld"]
    return {
        "min_group_size": settings.REPORT_MIN_GROUP_SIZE,
        "counts": {name: count_given(value, withheld=name in withheld) for name, value in counts.items()},
        "rates": {
            name: rate_given(report["rates"][name], counts[numerator], counts["sent"])
            for name, numerator in REPORT_RATES
        },
        "clicks": count_given(report["clicks"], withheld=report["clicks_shown"] == "hidden"),
        "links": [
            {"position": link["position"], "url": link["url"], "clicks": count_given(link["clicks"])}
            for link in report["links"]
        ],
        "opens": None if opens is None else count_given(opens),
    }


def progress_given(progress: dict) -> dict:
    """A send's progress for the API: the failed, skipped and unknown rows are people, so each is null when 1 to 4,
    or when exactly one other is (the total less the rest would give it away). The other numbers stay."""
    given = {name: progress[name] for name in PROGRESS_FIELDS}
    withheld = outcomes_withheld(progress)
    for name in OUTCOME_COUNTS:
        if name in withheld or count_hidden(progress[name]):
            given[name] = None
    return given


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class SendSerializer(serializers.ModelSerializer):
    """A send with its progress. ``context["progress"]`` maps send ids to ``send_progress``-shaped dicts."""

    campaign = CampaignRefSerializer(source="page", read_only=True)
    state = serializers.ChoiceField(choices=SendState.choices, read_only=True)
    total = serializers.SerializerMethodField(help_text="Recipients in the ledger (the audience snapshot).")
    progress = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Send
        fields = [
            "id",
            "campaign",
            "state",
            "pause_reason",
            "created_at",
            "scheduled_for",
            "started_at",
            "finished_at",
            "total",
            "progress",
            "url",
        ]
        read_only_fields = fields

    def get_total(self, send) -> int:
        return self.context["progress"][send.pk]["total"]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, send) -> dict:
        return progress_given(self.context["progress"][send.pk])

    def get_url(self, send) -> str:
        return absolute(reverse("api:send_detail", args=[send.pk]))


class SendDetailSerializer(SendSerializer):
    """A send with its progress (rate and time left included) and its aggregate results. ``context["results"]`` is
    ``results_given`` of the send."""

    results = serializers.SerializerMethodField()

    class Meta(SendSerializer.Meta):
        fields = [*SendSerializer.Meta.fields, "results"]
        read_only_fields = fields

    @extend_schema_field(ResultsSerializer)
    def get_results(self, send) -> dict:
        return self.context["results"]


# Input ------------------------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATETIME)
class AwareDateTimeField(serializers.Field):
    """An ISO 8601 date and time that names its zone (``Z`` or an offset). A time without one is refused rather
    than guessed: a schedule read in the wrong zone mails everyone hours early or late."""

    default_error_messages = {
        "invalid": "Give a date and time in ISO 8601, such as 2027-01-15T09:00:00+00:00.",
        "naive": "Give the time zone too: Z or an offset such as +01:00 (2027-01-15T09:00:00+01:00).",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = parse_datetime(data.strip())
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if timezone.is_naive(value):
            self.fail("naive")
        return value

    def to_representation(self, value):
        return value.isoformat()


class SendNowSerializer(serializers.Serializer):
    seen_send_id = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The newest send id the caller knew of for this campaign (0 for none): if a newer send exists, "
        "the request is refused (409) instead of sending again.",
    )


class ScheduleSerializer(SendNowSerializer):
    when = AwareDateTimeField(help_text="When the send starts: ISO 8601 with a zone, in the future.")

    def validate_when(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Choose a time in the future.")
        return value
