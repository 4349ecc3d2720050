"""GET /api/openapi.json: the OpenAPI 3.1 document describes every API route."""

import re

import pytest

from tests.api.conftest import action_url

ACTIONS = ("activate", "suspend", "reactivate", "cancel", "change")


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_is_openapi_3_1_and_public(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert set(document["components"]["securitySchemes"]) == {"sessionCookie", "csrfToken"}


def test_every_api_route_and_method_is_described(app, document):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (path, method)


def test_every_reference_resolves(document):
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node = document
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_errors_are_documented_in_the_one_shape(document):
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message", "fields"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/api/admin/"):
                continue
            assert "200" in operation["responses"]
            assert "401" in operation["responses"] and "403" in operation["responses"]
            assert operation["x-permission"]
            if method == "post":
                assert {"400", "422"} <= set(operation["responses"])
                assert operation["security"] == [{"sessionCookie": [], "csrfToken": []}]


def test_documented_request_fields_are_the_ones_the_endpoints_accept(
    client, auth, document, make_customer
):
    customer = make_customer()
    auth.login("admin")
    for action in ACTIONS:
        operation = document["paths"][f"/api/admin/customers/{{customer_id}}/services/{action}"]
        schema = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["additionalProperties"] is False
        body = {name: "" for name in schema["properties"]}
        response = client.post(action_url(customer.id, action), json=body)
        fields = response.json["error"]["fields"]
        assert "Unknown field." not in fields.values(), (action, fields)
        assert set(schema["required"]) <= set(fields), (action, fields)
