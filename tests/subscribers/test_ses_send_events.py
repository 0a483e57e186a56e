"""Whether the configuration set publishes Send events (which settle rows in doubt), asked of moto's SES server
through the v1 API, and the local endpoint's preparation that gives it an SNS event destination."""

import boto3
import pytest
from django.core.cache import cache

from mailer import ses
from mailer.ses import SesTransientError, ses_send_events_problem
from newsletter.local_ses import LOCAL_EVENT_TYPES, local_ses_prepare


@pytest.fixture
def ses_v1(ses_endpoint, settings):
    return boto3.client(
        "ses",
        region_name=settings.SES_REGION,
        endpoint_url=ses_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def destinations(ses_v1, name: str) -> list:
    described = ses_v1.describe_configuration_set(
        ConfigurationSetName=name, ConfigurationSetAttributeNames=["eventDestinations"]
    )
    return [d for d in described["EventDestinations"] if d]


def configuration_set_with(ses_v1, settings, name: str, destination: dict | None) -> None:
    """A new configuration set in the local SES, with this event destination (or none), named in the settings."""
    ses_v1.create_configuration_set(ConfigurationSet={"Name": name})
    if destination is not None:
        ses_v1.create_configuration_set_event_destination(
            ConfigurationSetName=name, EventDestination={"Name": f"{name}-destination", **destination}
        )
    settings.SES_CONFIGURATION_SET = name


SNS = {"SNSDestination": {"TopicARN": "arn:aws:sns:eu-west-2:123456789012:ses-feedback"}}


def test_the_prepared_local_configuration_set_publishes_every_event_we_use_to_sns(ses_v1, settings):
    (destination,) = destinations(ses_v1, settings.SES_CONFIGURATION_SET)

    assert destination["Enabled"] is True
    assert set(destination["MatchingEventTypes"]) == set(LOCAL_EVENT_TYPES) >= {"send", "delivery", "bounce"}
    assert destination["SNSDestination"]["TopicARN"].startswith("arn:aws:sns:")
    assert ses_send_events_problem() == ""


def test_preparing_the_local_endpoint_twice_leaves_one_destination(ses_endpoint, ses_v1, settings):
    local_ses_prepare(
        endpoint_url=ses_endpoint,
        region=settings.SES_REGION,
        sender=settings.DEFAULT_FROM_EMAIL,
        configuration_set=settings.SES_CONFIGURATION_SET,
    )

    assert len(destinations(ses_v1, settings.SES_CONFIGURATION_SET)) == 1


@pytest.mark.parametrize(
    ("destination", "problem"),
    [
        (None, "The configuration set unheard has no enabled event destination for Send events."),
        (
            {"Enabled": False, "MatchingEventTypes": ["send", "delivery"], **SNS},
            "The configuration set unheard has no enabled event destination for Send events.",
        ),
        (
            {"Enabled": True, "MatchingEventTypes": ["bounce", "complaint", "delivery"], **SNS},
            "The configuration set unheard has no enabled event destination for Send events.",
        ),
        (
            {
                "Enabled": True,
                "MatchingEventTypes": ["send"],
                "CloudWatchDestination": {
                    "DimensionConfigurations": [
                        {"DimensionName": "send", "DimensionValueSource": "messageTag", "DefaultDimensionValue": "x"}
                    ]
                },
            },
            "The configuration set unheard publishes Send events, but not to an SNS topic.",
        ),
    ],
    ids=["no destination", "disabled", "no send events", "not to sns"],
)
def test_a_configuration_set_that_would_not_tell_us_of_accepted_messages_is_named(
    ses_v1, settings, destination, problem
):
    configuration_set_with(ses_v1, settings, "unheard", destination)

    assert ses_send_events_problem() == problem


def test_send_events_to_a_topic_the_hook_refuses_are_a_problem(ses_v1, settings):
    configuration_set_with(ses_v1, settings, "elsewhere", {"Enabled": True, "MatchingEventTypes": ["send"], **SNS})
    settings.SES_SNS_TOPIC_ARNS = ["arn:aws:sns:eu-west-2:123456789012:another-topic"]

    problem = ses_send_events_problem()

    assert "publishes Send events to an SNS topic that is not on SES_SNS_TOPIC_ARNS" in problem
    assert "123456789012" not in problem, "the account is not named on a public health check"
    settings.SES_SNS_TOPIC_ARNS = [SNS["SNSDestination"]["TopicARN"]]
    cache.delete("ses:send-events:elsewhere")
    assert ses_send_events_problem() == ""


def test_a_missing_configuration_set_and_an_empty_setting_are_named(settings):
    settings.SES_CONFIGURATION_SET = "never-created"
    region = settings.SES_REGION
    assert ses_send_events_problem() == f"The configuration set never-created does not exist in SES (region {region})."

    settings.SES_CONFIGURATION_SET = None
    assert "SES_CONFIGURATION_SET is not set" in ses_send_events_problem()


def test_the_answer_is_cached_so_that_health_checks_and_send_pages_cost_ses_little(ses_v1, settings):
    # Given a configuration set without Send events, asked about once
    configuration_set_with(ses_v1, settings, "late-fix", None)
    assert ses_send_events_problem() != ""

    # When the operator adds the destination, the cached answer stands until it expires
    ses_v1.create_configuration_set_event_destination(
        ConfigurationSetName="late-fix",
        EventDestination={"Name": "late-fix-sns", "Enabled": True, "MatchingEventTypes": ["send"], **SNS},
    )
    assert ses_send_events_problem() != ""
    assert ses.SEND_EVENTS_PROBLEM_CACHE_SECONDS <= 60 < ses.SEND_EVENTS_CACHE_SECONDS
    cache.delete("ses:send-events:late-fix")  # what its expiry does
    assert ses_send_events_problem() == ""


def test_an_ses_that_does_not_answer_raises_our_error_not_the_library_s(settings):
    settings.SES_ENDPOINT_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    ses._cached_client.cache_clear()
    try:
        with pytest.raises(SesTransientError, match="Could not read the event destinations of configuration set"):
            ses_send_events_problem()
    finally:
        ses._cached_client.cache_clear()
