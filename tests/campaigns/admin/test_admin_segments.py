"""The segment admin: who may see and change segments, errors that name the condition and change nothing, the live
count (and the sample only for staff allowed to see subscribers), and the audit log."""

import json

import pytest
from django.urls import reverse
from wagtail import hooks
from wagtail.models import ModelLogEntry

from campaigns.admin import segment_fields
from campaigns.errors import CampaignForbidden
from campaigns.segments.models import Segment
from campaigns.segments.services import segment_create
from subscribers.models import AttributeType, Topic
from tests.campaigns.segments.conftest import attribute, small_campaign, value
from tests.factories import (
    EDITORS,
    PRIVACY_OFFICERS,
    SubscriberFactory,
    SubscriptionFactory,
    UserFactory,
    staff_in_role,
)

pytestmark = pytest.mark.django_db

SCOTS = {"all": [{"field": "attribute:country", "op": "equals", "value": "Scotland"}]}


@pytest.fixture
def country():
    return attribute("country", AttributeType.TEXT)


@pytest.fixture
def people(country):
    """Two people in Scotland, one in Wales."""
    ada, bob, cat = (SubscriberFactory(first_name=n) for n in ("Ada", "Bob", "Cat"))
    for person, place in ((ada, "Scotland"), (bob, "Scotland"), (cat, "Wales")):
        value(person, country, text=place)
    return ada, bob, cat


def editor(client):
    user = staff_in_role(EDITORS, "editor@larkspur-lune.example")
    client.force_login(user)
    return user


def count(client, definition):
    body = json.dumps({"definition": definition})
    return client.post(reverse("campaigns_admin:segment_count"), body, content_type="application/json")


def test_a_campaign_editor_sees_the_segments_menu_and_list_with_each_segments_summary_and_count(client, people):
    editor(client)
    segment_create(name="Scots", definition=SCOTS)

    response = client.get(reverse("campaigns_admin:segments"))

    assert response.status_code == 200
    row = response.content.decode()
    assert "Scots" in row and "Country is Scotland" in row
    assert response.context["rows"][0][2] == 2
    assert "a segment alone is not the audience" in row
    assert reverse("campaigns_admin:segments") in client.get(reverse("wagtailadmin_home")).content.decode()


def test_a_privacy_officer_who_authors_no_campaigns_may_not_see_or_count_segments(client, people):
    client.force_login(staff_in_role(PRIVACY_OFFICERS, "officer@larkspur-lune.example"))

    # Wagtail answers a refusal under /admin/ by sending the person back to the dashboard
    home = reverse("wagtailadmin_home")
    assert client.get(reverse("campaigns_admin:segments")).url == home
    assert client.get(reverse("campaigns_admin:segment_add")).url == home
    refused = count(client, SCOTS)
    assert (refused.status_code, refused.url) == (302, home)
    assert reverse("campaigns_admin:segments") not in client.get(home).content.decode()


def test_someone_who_may_author_but_not_manage_segments_reads_them_and_cannot_save_one(client, people):
    # Given an editor whose role lost the segment permission (taken back by hand in Settings > Groups)
    user = editor(client)
    user.groups.get().permissions.remove(*user.groups.get().permissions.filter(codename="manage_segments"))

    assert client.get(reverse("campaigns_admin:segments")).status_code == 200
    assert count(client, SCOTS).json()["count"] == 2
    response = client.post(
        reverse("campaigns_admin:segment_add"), {"name": "Scots", "definition": json.dumps(SCOTS)}
    )
    assert response.status_code == 302 and response.url == reverse("wagtailadmin_home")
    assert not Segment.objects.exists()
    with pytest.raises(CampaignForbidden):
        segment_create(name="Scots", definition=SCOTS, user=user)


def test_an_editor_saves_a_segment_and_the_audit_log_names_them(client, people):
    user = editor(client)

    response = client.post(
        reverse("campaigns_admin:segment_add"),
        {"name": "Scots", "description": "For the Edinburgh shop", "definition": json.dumps(SCOTS)},
    )

    assert response.status_code == 302 and response.url == reverse("campaigns_admin:segments")
    segment = Segment.objects.get()
    assert (segment.name, segment.description, segment.definition, segment.created_by) == (
        "Scots",
        "For the Edinburgh shop",
        SCOTS,
        user,
    )
    entry = ModelLogEntry.objects.get(action="campaigns.segment_create")
    assert (entry.user, entry.object_id) == (user, str(segment.pk))

    # And changing it is logged too, and the editor opens it with its definition
    changed = {"any": [*SCOTS["all"], {"field": "account", "op": "equals", "value": True}]}
    client.post(
        reverse("campaigns_admin:segment_edit", args=[segment.pk]), {"name": "Scots", "definition": json.dumps(changed)}
    )
    segment.refresh_from_db()
    assert segment.definition == changed
    assert ModelLogEntry.objects.filter(action="campaigns.segment_update", user=user).count() == 1
    page = client.get(reverse("campaigns_admin:segment_edit", args=[segment.pk]))
    assert json.loads(page.context["form"].initial["definition"]) == changed
    assert page.context["initial_count"] == 2  # Ada and Bob are in Scotland; nobody has an account


def test_a_refused_definition_is_shown_with_the_path_of_its_condition_and_nothing_is_saved(client, country):
    editor(client)
    segment = segment_create(name="Scots", definition=SCOTS)
    bad = {"all": [SCOTS["all"][0], {"any": [{"field": "attribute:country", "op": "bigger", "value": "x"}]}]}

    response = client.post(
        reverse("campaigns_admin:segment_edit", args=[segment.pk]), {"name": "Renamed", "definition": json.dumps(bad)}
    )

    assert response.status_code == 200
    assert response.context["error"].path == "all.1.any.0"
    page = response.content.decode()
    assert 'data-error-path="all.1.any.0"' in page
    assert "all.1.any.0: unknown operator &#x27;bigger&#x27; for a text attribute" in page
    segment.refresh_from_db()
    assert (segment.name, segment.definition) == ("Scots", SCOTS)
    assert not ModelLogEntry.objects.filter(action="campaigns.segment_update").exists()


def test_json_that_does_not_parse_and_a_name_taken_are_refused_naming_the_field(client, country):
    editor(client)
    segment_create(name="Scots", definition=SCOTS)

    broken = client.post(reverse("campaigns_admin:segment_add"), {"name": "New", "definition": '{"all": ['})
    taken = client.post(reverse("campaigns_admin:segment_add"), {"name": "scots", "definition": '{"all": []}'})

    assert "definition: not valid JSON" in broken.context["form"].errors["definition"][0]
    deep = "[" * 30_000 + "]" * 30_000  # too deep for Python's JSON reader: refused, not a server error
    too_deep = client.post(reverse("campaigns_admin:segment_add"), {"name": "New", "definition": deep})
    assert too_deep.context["form"].errors["definition"] == [
        "definition: nested too deep to read; groups nest at most 5 deep"
    ]
    assert taken.context["form"].errors["name"] == ["a segment named 'scots' exists already"]
    assert Segment.objects.count() == 1


def test_the_count_answers_the_number_and_a_refused_definition_with_its_path(client, people):
    editor(client)

    assert count(client, SCOTS).json()["count"] == 2
    assert count(client, {"all": []}).json()["count"] == 3
    refused = count(client, {"all": [{"field": "attribute:shoe_size", "op": "equals", "value": "9"}]})
    assert refused.status_code == 400
    assert refused.json()["path"] == "all.0"
    assert refused.json()["problem"] == "unknown attribute 'shoe_size'; attributes: country"
    not_json = client.post(reverse("campaigns_admin:segment_count"), "{", content_type="application/json")
    assert not_json.status_code == 400 and not_json.json()["path"] == "definition"
    deep = '{"definition": ' + "[" * 30_000 + "]" * 30_000 + "}"
    too_deep = client.post(reverse("campaigns_admin:segment_count"), deep, content_type="application/json")
    assert too_deep.status_code == 400
    assert too_deep.json()["problem"] == "nested too deep to read; groups nest at most 5 deep"
    assert client.get(reverse("campaigns_admin:segment_count")).status_code == 405


def test_the_sample_is_shown_only_to_staff_allowed_to_see_subscribers(client, people):
    ada, bob, _ = people
    editor(client)
    assert "sample" not in count(client, SCOTS).json()

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    sample = count(client, SCOTS).json()["sample"]

    assert sample == [
        {"email": bob.email, "first_name": "Bob"},
        {"email": ada.email, "first_name": "Ada"},
    ]


def test_the_editor_offers_each_field_with_only_the_operators_its_type_allows(client, people):
    editor(client)
    attribute("metal", AttributeType.CHOICE, choices=["gold", "silver"])
    SubscriptionFactory(topic=Topic.objects.get(is_default=True))

    response = client.get(reverse("campaigns_admin:segment_add"))

    fields = {f["field"]: f for f in response.context["catalogue"]["fields"]}
    assert [o["op"] for o in fields["attribute:country"]["ops"]] == [
        "equals",
        "not_equals",
        "contains",
        "is_set",
        "is_not_set",
    ]
    assert fields["attribute:metal"]["choices"] == [["gold", "gold"], ["silver", "silver"]]
    assert {o["op"]: o["input"] for o in fields["attribute:metal"]["ops"]}["one_of"] == "choices"
    assert {o["op"]: o["input"] for o in fields["signed_up"]["ops"]} == {
        "before": "date",
        "after": "date",
        "within_days": "days",
    }
    assert ["general", "General Subscription"] in fields["topic"]["choices"]
    assert 'id="segment-fields" type="application/json"' in response.content.decode()


def test_a_condition_naming_a_campaign_older_than_those_offered_shows_that_campaign(client, monkeypatch):
    # Given three campaigns, of which the editor offers the newest two, and a segment naming the oldest
    monkeypatch.setattr(segment_fields, "CAMPAIGNS_OFFERED", 2)
    oldest, *_newer = (small_campaign(slug) for slug in ("winter-sale", "spring-news", "summer-news"))
    received = {"all": [{"field": "received", "op": "campaign", "value": oldest.pk}]}
    segment = segment_create(name="Winter buyers", definition=received)
    editor(client)

    # When the editor and the list are opened
    page = client.get(reverse("campaigns_admin:segment_edit", args=[segment.pk]))
    listed = client.get(reverse("campaigns_admin:segments")).content.decode()
    blank = client.get(reverse("campaigns_admin:segment_add"))

    # Then the oldest campaign is offered where it is named (the editor would otherwise show, and save, the first
    # campaign of the list in its place), and the list reads its title
    def offered(response) -> list:
        fields = {f["field"]: f for f in response.context["catalogue"]["fields"]}
        return [title for _, title in fields["received"]["choices"]]

    assert offered(page) == ["Summer news", "Spring news", "Winter sale"]
    assert offered(blank) == ["Summer news", "Spring news"]
    assert "received a send of the campaign Winter sale" in listed

    # And so is it when the definition comes back refused (here for a second condition that is not right)
    refused = {"all": [*received["all"], {"field": "signed_up", "op": "within_days", "value": 0}]}
    sent_back = client.post(
        reverse("campaigns_admin:segment_edit", args=[segment.pk]),
        {"name": "Winter buyers", "definition": json.dumps(refused)},
    )
    assert "all.1" in sent_back.content.decode()
    assert offered(sent_back) == ["Summer news", "Spring news", "Winter sale"]


def test_a_definition_sent_back_nested_far_too_deep_is_refused_not_a_server_error(client, country):
    editor(client)
    deep = "[" * 800 + "]" * 800  # parses, yet nests far deeper than any definition may

    response = client.post(reverse("campaigns_admin:segment_add"), {"name": "", "definition": deep})

    assert response.status_code == 200
    assert not Segment.objects.exists()


def test_the_segment_permission_is_offered_in_settings_groups():
    offered = {p.codename for hook in hooks.get_hooks("register_permissions") for p in hook()}

    assert "manage_segments" in offered
