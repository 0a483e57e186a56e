"""The API's foundation, through probe endpoints built on its base classes: keys, scopes, the rate per key, the one
error shape, cursor paging and Idempotency-Key."""

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from api.models import ApiKey, IdempotencyRecord
from api.services import api_key_revoke, idempotency_fingerprint, idempotency_records_purge
from api.tasks import idempotency_records_purge_task
from tests.factories import TopicFactory

from .conftest import client_for, error_of
from .probe_urls import PROBE_COUNTER

pytestmark = pytest.mark.urls("tests.api.probe_urls")
PROBE = "/api/v1/probe/"
ACT = "/api/v1/probe/act/"


@pytest.fixture(autouse=True)
def _probe_counter_reset():
    cache.delete(PROBE_COUNTER)


# Keys ----------------------------------------------------------------------------------------------------------------


def test_a_request_without_a_key_is_refused_with_401_and_a_bearer_challenge(db):
    response = client_for(None).get(PROBE)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer nlk_", "Bearer nlk_abcd", "Bearer a b", "Token nlk_a_b"],
)
def test_a_malformed_authorization_header_is_refused_with_401(db, header):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(PROBE)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] in {"authentication_failed", "not_authenticated"}


def test_an_unknown_key_or_a_wrong_secret_is_refused_with_401(api_key_make):
    made = api_key_make("subscribers:read")
    wrong_secret = made.key[:-4] + ("AAAA" if not made.key.endswith("AAAA") else "BBBB")

    for key in (wrong_secret, "nlk_00000000_" + "x" * 43):
        response = client_for(key).get(PROBE)
        assert response.status_code == 401, key
        assert error_of(response)["code"] == "authentication_failed"
    assert client_for(made.key).get(PROBE).status_code == 200


def test_a_revoked_key_is_refused_with_401_and_its_user_holds_no_permission_any_more(api_key_make):
    made = api_key_make("subscribers:read", "privacy:write")
    assert client_for(made.key).get(PROBE).status_code == 200
    assert made.api_key.user.has_perm("subscribers.change_rightsrequest")

    api_key_revoke(api_key=made.api_key)

    response = client_for(made.key).get(PROBE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    user = ApiKey.objects.get(pk=made.api_key.pk).user
    assert not user.is_active
    assert not user.has_perm("subscribers.change_rightsrequest")


def test_only_a_hash_of_the_secret_is_stored(api_key_make):
    made = api_key_make("subscribers:read")
    secret = made.key.split("_", 2)[2]

    row = ApiKey.objects.values().get(pk=made.api_key.pk)

    assert made.key.startswith(f"nlk_{row['prefix']}_")
    assert secret not in json.dumps(row, default=str)
    assert len(row["secret_hash"]) == 64


def test_last_used_is_written_at_most_once_a_minute(api_key_make):
    made = api_key_make("subscribers:read")
    assert made.api_key.last_used_at is None

    client_for(made.key).get(PROBE)
    first = ApiKey.objects.get(pk=made.api_key.pk).last_used_at
    client_for(made.key).get(PROBE)
    assert ApiKey.objects.get(pk=made.api_key.pk).last_used_at == first

    ApiKey.objects.filter(pk=made.api_key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client_for(made.key).get(PROBE)
    assert ApiKey.objects.get(pk=made.api_key.pk).last_used_at > first


def test_each_key_has_a_service_user_that_cannot_use_the_admin(api_key_make, client):
    made = api_key_make("subscribers:read", "privacy:write", name="Shop checkout")
    user = made.api_key.user

    assert user.email == f"api-key-{made.api_key.prefix}@api-keys.invalid"
    assert user.get_full_name() == "API key Shop checkout"
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser and user.is_active
    assert not user.has_perm("wagtailadmin.access_admin")
    client.force_login(user)  # even with a session, which it could never get by logging in
    assert client.get("/admin/").status_code == 302


def test_the_campaigns_send_scope_lets_the_key_user_send_and_nothing_more(api_key_make):
    from wagtail.models import Page

    from campaigns.permissions import SEND_PERMISSION, may_send

    sender = api_key_make("campaigns:send").api_key.user
    reader = api_key_make("subscribers:read").api_key.user
    page = Page.objects.filter(depth=2).first()

    assert may_send(page, sender)
    assert not may_send(page, reader)
    assert sender.has_perm(SEND_PERMISSION)
    assert not sender.has_perm("wagtailadmin.access_admin")
    assert not sender.has_perm("subscribers.change_rightsrequest")


# Scopes and the rate -------------------------------------------------------------------------------------------------


def test_a_key_without_the_scope_is_refused_with_403_naming_the_scope(api_client):
    client = api_client("subscribers:read")

    response = client.post(ACT, {"value": 1})

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "subscribers:write" in error["message"]
    assert cache.get(PROBE_COUNTER) is None


def test_too_many_requests_for_one_key_are_refused_with_429_and_retry_after(api_client, settings):
    settings.API_RATE = "3/min"
    client, other = api_client("subscribers:read"), api_client("subscribers:read")

    statuses = [client.get(PROBE).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = client.get(PROBE)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert error_of(response)["code"] == "throttled"
    assert other.get(PROBE).status_code == 200  # the rate is per key


# The error shape -----------------------------------------------------------------------------------------------------


def test_bad_input_is_a_400_naming_each_field_and_changes_nothing(api_client):
    response = api_client("subscribers:write").post(ACT, {"value": -1, "slow": "perhaps"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"value", "slow"}
    assert cache.get(PROBE_COUNTER) is None


def test_a_body_that_is_not_json_is_a_400_and_another_media_type_a_415(api_client):
    client = api_client("subscribers:write")

    broken = client.post(ACT, data="{not json", content_type="application/json")
    form = client.post(ACT, data="value=1", content_type="application/x-www-form-urlencoded")
    deep = "[" * 30_000 + "]" * 30_000  # too deep for Python's JSON reader; with and without an Idempotency-Key
    too_deep = [
        client.post(ACT, data=deep, content_type="application/json", **headers)
        for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "deep-1"})
    ]

    assert broken.status_code == 400 and error_of(broken)["code"] == "parse_error"
    for answer in too_deep:
        assert answer.status_code == 400 and error_of(answer)["message"] == "JSON parse error - nested too deep to read"
    assert form.status_code == 415 and error_of(form)["code"] == "unsupported_media_type"


def test_an_unknown_path_and_a_wrong_method_answer_in_the_error_shape(api_client):
    client = api_client("subscribers:write")

    missing = client.get("/api/v1/no-such-thing/")
    wrong_method = client.delete(ACT)

    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


def test_domain_errors_map_to_their_status_and_code():
    from api.errors import api_exception_handler
    from subscribers.errors import ActionForbidden
    from subscribers.fieldrules import FieldRuleError
    from subscribers.services.errors import SuppressedAddressError

    cases = {
        SuppressedAddressError("suppressed"): (409, "suppressed"),
        ActionForbidden("no"): (403, "permission_denied"),
        FieldRuleError("First name is too long.", field="first_name"): (400, "invalid"),
    }
    for exc, (status, code) in cases.items():
        response = api_exception_handler(exc, {})
        assert (response.status_code, response.data["error"]["code"]) == (status, code)
    field_error = api_exception_handler(FieldRuleError("First name is too long.", field="first_name"), {})
    assert field_error.data["error"]["fields"] == {"first_name": ["First name is too long."]}


# Paging ---------------------------------------------------------------------------------------------------------------


def test_cursor_paging_walks_every_row_exactly_once(api_client):
    TopicFactory.create_batch(22)
    client = api_client("subscribers:read")
    expected = set(TopicFactory._meta.model.objects.values_list("slug", flat=True))
    assert len(expected) >= 23

    seen, url, pages = [], f"{PROBE}?page_size=5", 0
    while url:
        body = client.get(url).json()
        seen += [row["slug"] for row in body["results"]]
        url, pages = body["next"], pages + 1
        if pages == 2:
            TopicFactory()  # a row added while paging: newer than the cursor, so not in this walk

    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected
    assert pages == -(-len(expected) // 5)


def test_the_page_size_has_a_ceiling(api_client):
    TopicFactory.create_batch(3)
    body = api_client("subscribers:read").get(f"{PROBE}?page_size=100000").json()
    assert len(body["results"]) <= 500 and body["next"] is None


# Idempotency ---------------------------------------------------------------------------------------------------------


def test_a_post_with_an_idempotency_key_is_answered_again_without_acting_twice(api_client):
    client = api_client("subscribers:write")

    first = client.post(ACT, {"value": 7}, HTTP_IDEMPOTENCY_KEY="order-1001")
    second = client.post(ACT, {"value": 7}, HTTP_IDEMPOTENCY_KEY="order-1001")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() == {"value": 7, "acts": 1}
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert cache.get(PROBE_COUNTER) == 1
    # Another key of ours, or another API key with the same Idempotency-Key, acts afresh.
    assert client.post(ACT, {"value": 7}, HTTP_IDEMPOTENCY_KEY="order-1002").json()["acts"] == 2
    other_key = api_client("subscribers:write")
    assert other_key.post(ACT, {"value": 7}, HTTP_IDEMPOTENCY_KEY="order-1001").json()["acts"] == 3


def test_the_same_idempotency_key_with_a_different_body_is_refused(api_client):
    client = api_client("subscribers:write")
    client.post(ACT, {"value": 7}, HTTP_IDEMPOTENCY_KEY="order-1001")

    response = client.post(ACT, {"value": 8}, HTTP_IDEMPOTENCY_KEY="order-1001")

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "idempotency_key_reused"
    assert "different request" in error["message"]
    assert cache.get(PROBE_COUNTER) == 1


def test_an_answer_of_bad_input_is_replayed_too_and_an_invalid_key_is_refused(api_client):
    client = api_client("subscribers:write")

    bad = client.post(ACT, {"value": -1}, HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(ACT, {"value": -1}, HTTP_IDEMPOTENCY_KEY="k1")
    too_long = client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="x" * 256)

    assert bad.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"
    assert too_long.status_code == 400 and "Idempotency-Key" in error_of(too_long)["fields"]
    assert cache.get(PROBE_COUNTER) is None


def test_old_answers_are_forgotten_after_a_day_by_the_purge_task(api_client):
    client = api_client("subscribers:write")
    client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="old")
    client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert idempotency_records_purge_task.delay().get() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert idempotency_records_purge() == 0


def test_an_expired_answer_is_not_replayed(api_client):
    client = api_client("subscribers:write")
    client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyRecord.objects.filter(key="k").update(created_at=timezone.now() - timedelta(hours=25))

    response = client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k")

    assert "Idempotent-Replayed" not in response and response.json()["acts"] == 2


def test_a_claim_whose_request_never_answered_expires_after_a_minute_and_a_retry_acts(api_client):
    client = api_client("subscribers:write")
    # A claim with no answer, as a process that died after claiming leaves it
    fingerprint = idempotency_fingerprint(method="POST", path=ACT, body=b'{"value":1}')
    IdempotencyRecord.objects.create(api_key=client.api_key, key="stuck", fingerprint=fingerprint)

    fresh = client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="stuck")
    IdempotencyRecord.objects.filter(key="stuck").update(created_at=timezone.now() - timedelta(seconds=61))
    retried = client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="stuck")
    replayed = client.post(ACT, {"value": 1}, HTTP_IDEMPOTENCY_KEY="stuck")

    assert fresh.status_code == 409 and error_of(fresh)["code"] == "idempotency_in_progress"
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried and retried.json()["acts"] == 1
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == retried.json()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_posts_with_the_same_idempotency_key_act_once(live_server, api_key_make):
    # Given a slow action and two clients racing with one Idempotency-Key over real HTTP
    key = api_key_make("subscribers:write").key
    answers: list[tuple[int, dict]] = []
    start = threading.Barrier(2)

    def post():
        request = urllib.request.Request(
            f"{live_server.url}{ACT}",
            data=json.dumps({"value": 3, "slow": True}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": "race"},
            method="POST",
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answers.append((response.status, json.loads(response.read())))
        except urllib.error.HTTPError as err:
            answers.append((err.code, json.loads(err.read())))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one acted and the other was told to retry; the retry gets the first answer
    assert sorted(status for status, _ in answers) == [201, 409]
    assert cache.get(PROBE_COUNTER) == 1
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"]["code"] == "idempotency_in_progress"
    retry = client_for(key).post(ACT, {"value": 3, "slow": True}, HTTP_IDEMPOTENCY_KEY="race")
    assert retry.status_code == 201 and retry.json() == {"value": 3, "acts": 1}
    assert cache.get(PROBE_COUNTER) == 1
