"""The served spec describes every route exactly: a sweep over every operation of the app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI

from projekt.authz import Audience
from projekt.spec import is_list_route
from tests.core.test_strict_models import iter_api_routes


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    loaded: dict[str, Any] = app.state.openapi.document()
    return loaded


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _header_names(spec: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    names = set()
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        if param["in"] == "header":
            names.add(param["name"])
    return names


def test_only_json_schema_keywords(spec: dict[str, Any]) -> None:
    """pydantic's own constraint names (ge, le, …) mean nothing to a client."""
    text = json.dumps(spec)
    for keyword in ('"ge":', '"le":', '"gt":', '"lt":', '"min_length":', '"max_length":'):
        assert keyword not in text, keyword


def test_no_error_is_fastapi_detail(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert '"detail"' not in text
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            schemas = [c.get("schema", {}) for c in response.get("content", {}).values()]
            assert schemas, (method, path, status)
            if status == "422":
                validation = {"$ref": "#/components/schemas/ValidationError"}
                # The field map, its `code` one of the route's 422 codes (a rule's own, such
                # as day_over_limit, besides validation_failed).
                narrowed = {
                    "allOf": [
                        validation,
                        {
                            "properties": {
                                "code": {
                                    "enum": sorted(response.get("x-codes", ["validation_failed"]))
                                }
                            }
                        },
                    ]
                }
                either = {"anyOf": [narrowed, {"$ref": "#/components/schemas/Error"}]}
                # Writes may also answer idempotency_key_reused, which names no field.
                allowed = [[narrowed], [either]] if method != "get" else [[narrowed]]
                assert schemas in allowed, (path, method)
            elif path.startswith("/api/"):
                (schema,) = schemas
                error = {"$ref": "#/components/schemas/Error"}
                # The envelope, with `code` narrowed to the codes the route declares.
                assert schema == error or schema["allOf"][0] == error, (path, method, status)
                if "allOf" in schema:
                    codes = schema["allOf"][1]["properties"]["code"]["enum"]
                    assert codes == sorted(response["x-codes"]), (path, method, status)


def test_the_metadata_routes_are_in_the_spec(spec: dict[str, Any]) -> None:
    for path, method in [
        ("/oauth/authorize", "get"),
        ("/oauth/authorize", "post"),
        ("/metrics", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]:
        assert method in spec["paths"][path], path
    for path, media in [
        ("/oauth/token", "application/x-www-form-urlencoded"),
        ("/oauth/revoke", "application/x-www-form-urlencoded"),
        ("/oauth/register", "application/json"),
    ]:
        operation = spec["paths"][path]["post"]
        assert media in operation["requestBody"]["content"], path
        assert {"400", "429"} <= set(operation["responses"]), path
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error["required"] == ["error"], path  # RFC 6749 §5.2
    assert "401" in spec["paths"]["/oauth/token"]["post"]["responses"]


def test_header_parameters_follow_the_policy(app: FastAPI, spec: dict[str, Any]) -> None:
    policy = app.state.policy
    for path, method, operation in operations(spec):
        rule = policy[operation["operationId"]]
        headers = _header_names(spec, operation)
        if path.startswith("/oauth/") or path.startswith("/.well-known/"):
            continue
        assert ("X-Org-Id" in headers) == (rule.audience is Audience.ORG), (method, path)
        if method == "get":
            assert "If-None-Match" in headers, path
            assert "304" in operation["responses"], path
        cookie_write = method != "get" and rule.csrf and rule.audience is not Audience.PUBLIC
        assert ("X-CSRF-Token" in headers) == cookie_write, (method, path)
        if "If-Match" in headers:
            assert "412" in operation["responses"], (method, path)


def test_response_headers(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert headers["X-Request-Id"]["required"] is True, (method, path, status)
            if path not in ("/healthz", "/readyz", "/metrics"):
                assert "X-RateLimit-Remaining" in headers, (method, path, status)
            if status in ("429", "503"):
                assert headers["Retry-After"]["required"] is True, (method, path)
            if status == "201" and not path.startswith("/oauth/"):
                assert headers["Location"]["required"] is True, (method, path)
            if status == "200" and method == "get":
                assert headers["ETag"]["required"] is True, path


def test_lists_declare_both_shapes_and_paging(app: FastAPI, spec: dict[str, Any]) -> None:
    listed = 0
    for route in iter_api_routes(app):
        if not route.include_in_schema or not is_list_route(route):
            continue
        listed += 1
        operation = spec["paths"][route.path]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        shapes = schema["oneOf"]
        assert shapes[1]["required"] == ["data", "meta"], route.path
        assert shapes[1]["properties"]["data"]["type"] == "array", route.path
        params = {p["name"]: p for p in operation["parameters"] if "name" in p}
        assert {"limit", "offset", "page", "per_page"} <= params.keys(), route.path
        assert params["limit"]["schema"]["maximum"] == 200
        if "sort" in params:
            assert params["sort"]["schema"]["pattern"].startswith("^("), route.path
        assert operation["responses"]["200"]["headers"]["X-Total-Count"]["required"] is True
    assert listed >= 3


def test_request_schemas_say_what_the_server_checks(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    invitation = schemas["InvitationCreate"]["properties"]["email"]
    assert {"type": "string", "format": "email", "maxLength": 320} in invitation["anyOf"]
    assert schemas["ProjectCreate"]["properties"]["key"]["pattern"] == "^[A-Z][A-Z0-9]{1,9}$"
    assert schemas["IssueCreate"]["properties"]["title"]["pattern"] == r"\S"
    update = schemas["OrgUpdate"]["properties"]
    assert update["name"]["type"] == "string" and "default" not in update["name"]
    project = schemas["ProjectUpdate"]["properties"]
    assert "anyOf" not in project["visibility"]  # not nullable: null is a 422
    assert {"type": "null"} in project["lead_id"]["anyOf"]  # nullable: null clears it
