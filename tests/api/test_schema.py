"""The served OpenAPI schema is valid OpenAPI 3 and describes every route under /api/v1/; the docs page works under
the site's Content-Security-Policy with no outside assets."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

# The site's routes plus the foundation's probe endpoints (a paged list and a POST), so that the schema's handling of
# both is checked whatever endpoints exist.
pytestmark = pytest.mark.urls("tests.api.probe_urls")


def api_routes() -> set[str]:
    """Every route under /api/v1/, as an OpenAPI path ("/api/v1/subscribers/{public_id}/")."""
    found = set()

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
                found.add(route)

    walk(get_resolver().url_patterns, "")
    paths = set()
    for route in found:
        if route.endswith("^.*$") or "\\.(?P<format>" in route or "schema/" in route or "docs/" in route:
            continue  # the catch-all 404, format suffixes, the schema and docs themselves
        route = route.replace("^", "").replace("$", "")
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        paths.add("/" + route)
    return paths


def test_the_served_schema_is_valid_openapi_3_and_lists_every_api_route(client):
    response = client.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate(schema)
    missing = api_routes() - set(schema["paths"])
    assert not missing, f"Routes missing from the schema: {sorted(missing)}"
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `nlk_<prefix>_<secret>`.",
    }


def test_the_schema_documents_idempotency_keys_and_the_error_shape_on_posts(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    posts = [op for item in schema["paths"].values() for method, op in item.items() if method == "post"]

    for operation in posts:
        assert "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])], operation["operationId"]
        assert {"400", "401", "403", "429"} <= set(operation["responses"]), operation["operationId"]
    assert "Error" in schema["components"]["schemas"]


def test_a_change_answers_the_subscriber_or_a_closed_receipt(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]

    # A write-only key's receipt has the id alone and nothing else, so a whole subscriber matches one branch only
    assert components["SubscriberReceipt"]["additionalProperties"] is False
    assert list(components["SubscriberReceipt"]["properties"]) == ["public_id"]
    branches = {ref["$ref"] for ref in components["SubscriberAnswer"]["oneOf"]}
    assert branches == {"#/components/schemas/Subscriber", "#/components/schemas/SubscriberReceipt"}
    created = schema["paths"]["/api/v1/subscribers/"]["post"]["responses"]["202"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/SubscriberAnswer"}
    outcome = components["TopicsOutcome"]
    assert outcome["required"] == ["subscriber"]
    assert outcome["properties"]["subscriber"] == {"$ref": "#/components/schemas/SubscriberAnswer"}


def test_the_docs_page_loads_only_our_own_files_under_the_strict_policy(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy
    assert "<style" not in html and not re.search(r"<script>(?!</script>)", html)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url
    script = client.get(re.search(r'<script src="([^"]+\?[^"]*script[^"]*)"', html)[1].replace("&amp;", "&"))
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
    assert b"/api/v1/schema/" in script.content
