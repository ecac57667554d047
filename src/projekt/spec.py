"""The OpenAPI document, built once at start-up from the route table, the policy and each
route's dependencies, so that a route declared the usual way is described exactly.

FastAPI describes paths, bodies and declared responses. This adds what the layers around the
routes do, for every operation it applies to:

- **errors**: every non-2xx answer is the envelope (422 with its ``errors`` map, never
  FastAPI's ``{detail}``), and each operation lists the statuses its layers can answer: the
  edge and the limiter (400, 413, 429, 503), credentials (401, 403), path ids (404), bodies
  and parameters (422), ``If-Match`` (412);
- **header parameters**: ``X-Org-Id`` where the policy's audience is the header's org,
  ``If-None-Match`` on every GET (the ETag layer answers 304), ``X-CSRF-Token`` on cookie
  writes (``If-Match`` comes from ``IfMatchDep`` itself);
- **response headers**: ``X-Request-Id`` and ``X-RateLimit-*`` on every answer, ``ETag`` on
  GETs, ``Location`` on 201s, ``Retry-After`` on 429 and 503, ``WWW-Authenticate`` on 401,
  ``X-Total-Count`` and ``Link`` on lists;
- **lists**: both shapes (a plain array, or ``{data, meta}`` once a paging parameter is sent),
  the paging parameters, and the values ``sort`` accepts;
- **security**: the schemes the policy admits, and the rule itself as ``x-projekt-authorization``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from projekt.authz import Audience, Rule
from projekt.core.conditional import get_if_match
from projekt.core.pagination import MAX_LIMIT, MAX_OFFSET, MAX_PAGE

# Answered before any rate limit is counted (middleware.access): no X-RateLimit-*, no 429.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNSAFE = frozenset({"post", "put", "patch", "delete"})
ERROR = "#/components/schemas/Error"
VALIDATION_ERROR = "#/components/schemas/ValidationError"

DESCRIPTIONS = {
    304: "Not modified: the If-None-Match tag is current.",
    400: "Malformed JSON, a bad header, or a bad paging/sort value.",
    401: "Missing, expired or revoked credential.",
    403: "Wrong role, a token on a session-only endpoint, a missing CSRF token, or an "
    "X-Org-Id that contradicts the token.",
    404: "Not found, or not visible to the caller.",
    409: "Conflict with the current state.",
    412: "If-Match did not match the current ETag; nothing was written.",
    431: "The request line and headers are over the size limit.",
    413: "Body over the size limit.",
    422: "Validation failed: `errors` maps each field to its messages.",
    429: "Rate limit exceeded: retry after `Retry-After` seconds.",
    503: "A backing service is unreachable; retry after `Retry-After` seconds.",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Every non-2xx answer of the API.",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string", "description": "Human-readable description."},
            "code": {"type": "string", "description": "Stable snake_case code."},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "ValidationError": {
        "type": "object",
        "description": "422: which fields failed, and why.",
        "required": ["error", "code", "errors"],
        "properties": {
            "error": {"type": "string"},
            "code": {
                "type": "string",
                "description": "`validation_failed`, or a rule's own code (each route lists its).",
            },
            "errors": {
                "type": "object",
                "description": "Field (dotted for nested ones) → messages.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "ListMeta": {
        "type": "object",
        "required": ["total", "page", "per_page", "pages", "limit", "offset"],
        "properties": {
            name: {"type": "integer", "minimum": 0}
            for name in ("total", "page", "per_page", "pages", "limit", "offset")
        },
    },
}


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": _header("The request's id (the client's, when well-formed); in the logs."),
    "X-RateLimit-Limit": _header(
        "Requests allowed in the window of the tightest bucket.", {"type": "integer"}
    ),
    "X-RateLimit-Remaining": _header("Requests left in that window.", {"type": "integer"}),
    "X-RateLimit-Reset": _header("Whole seconds until a slot frees.", {"type": "integer"}),
    "Retry-After": _header("Seconds to wait before retrying.", {"type": "integer"}),
    "ETag": _header("Strong validator of the representation (If-None-Match, If-Match)."),
    "Location": _header("Where the created resource can be read."),
    "X-Total-Count": _header("Items in the whole collection.", {"type": "integer"}),
    "Link": _header('`<…>; rel="next"` when more items follow.'),
    "WWW-Authenticate": _header("The Bearer challenge, with the resource metadata address."),
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "X-Org-Id": {
        "name": "X-Org-Id",
        "in": "header",
        "required": False,
        "description": "The org to act in. Optional with a token (it must then be the token's "
        "org, else 403); required with a browser session (missing: 400).",
        "schema": {"type": "string", "format": "uuid"},
    },
    "If-None-Match": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "An ETag you hold: 304 with no body while it is current.",
        "schema": {"type": "string"},
    },
    "X-CSRF-Token": {
        "name": "X-CSRF-Token",
        "in": "header",
        "required": False,
        "description": "Browser sessions: the csrf_token of sign-in. Tokens do not send it.",
        "schema": {"type": "string"},
    },
}

PAGING: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
}
PAGING_DOC = {
    "limit": "Page size; any paging parameter answers `{data, meta}`.",
    "offset": "Items to skip (not with `page`).",
    "page": "Page number from 1, with `per_page` (not with `offset`).",
    "per_page": "Page size.",
}


def build_openapi(
    app: FastAPI,
    policy: dict[str, Rule],
    description: str,
    extensions: Iterable[Callable[[dict[str, Any]], None]] = (),
) -> dict[str, Any]:
    """``extensions`` declare what a layer adds to operations (a header parameter, a response
    header, a refusal) before the operations are described, so the errors they add get the
    envelope and the common headers like every other."""
    spec = get_openapi(
        title=app.title, version=app.version, description=description, routes=app.routes
    )
    for extend in extensions:
        extend(spec)
    routes = {route.name: route for route in _api_routes(app)}
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ErrorEnvelope"):
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(SCHEMAS))
    components["parameters"] = copy.deepcopy(PARAMETERS)
    components["headers"] = copy.deepcopy(HEADERS)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "PAT or OAuth token"},
        "authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
        "session": {"type": "apiKey", "in": "cookie", "name": "projekt_session"},
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            route = routes[operation["operationId"]]
            rule = policy.get(route.name)
            describe_operation(path, method, operation, route, rule, schemas)
    return spec


def _api_routes(app: FastAPI) -> Iterator[APIRoute]:
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def list_dependency(route: APIRoute) -> Callable[..., Any] | None:
    """The route's list mechanism (``core.pagination``), when it answers a collection."""
    for call in _calls(route.dependant):
        if getattr(call, "is_list_params", False) is True:
            return call
    return None


def is_list_route(route: APIRoute) -> bool:
    if list_dependency(route) is not None:
        return True
    # Handlers that page by hand (before the list dependency reached them).
    code = getattr(route.endpoint, "__code__", None)
    return code is not None and "list_response" in code.co_names


def describe_operation(
    path: str,
    method: str,
    operation: dict[str, Any],
    route: APIRoute,
    rule: Rule | None,
    schemas: dict[str, Any],
) -> None:
    _describe_security(operation, rule)
    if path.startswith("/oauth/") or path.startswith("/.well-known/"):
        operation["responses"].setdefault(
            "431", {"description": DESCRIPTIONS[431], "content": _json_error()}
        )
        _limits(path, operation)
        _common_headers(path, method, operation)
        return  # protocol endpoints: RFC error formats, declared on the routes
    params = operation.setdefault("parameters", [])
    names = {(p.get("in"), p.get("name", "").lower()) for p in params if "name" in p}

    def add(name: str) -> None:
        if ("header", name.lower()) not in names:
            params.append({"$ref": f"#/components/parameters/{name}"})

    if rule is not None and rule.audience is Audience.ORG:
        add("X-Org-Id")
    if method == "get":
        add("If-None-Match")
    if method in UNSAFE and rule is not None and rule.csrf and rule.audience is not Audience.PUBLIC:
        add("X-CSRF-Token")
    for param in params:
        _not_null(param)
    listed = is_list_route(route)
    if listed:
        _list_parameters(params, route)
    if not params:
        operation.pop("parameters")

    statuses = _statuses(path, method, operation, route, rule)
    responses = operation["responses"]
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for status, response in responses.items():
        code = int(status) if status.isdigit() else 0
        if code == 422:
            # FastAPI's default text goes; what an extension added to it stays.
            added = response.get("description", "").replace("Validation Error", "").strip()
            response["description"] = f"{DESCRIPTIONS[422]} {added}".strip()
            # An extension's own 422 (idempotency_key_reused) names no fields: it declared
            # anyOf the two envelopes, which stays.
            declared = response.get("content", {}).get("application/json", {}).get("schema", {})
            narrowed = _validation_schema(response)
            schema = narrowed
            if "anyOf" in declared:
                field_map = {"$ref": VALIDATION_ERROR}
                branches = [narrowed if b == field_map else b for b in declared["anyOf"]]
                schema = {"anyOf": branches}
            response["content"] = {"application/json": {"schema": schema}}
        elif code >= 400:
            response["content"] = {"application/json": {"schema": _error_schema(response)}}
    if listed:
        _list_shapes(responses, schemas)
    _limits(path, operation)
    _common_headers(path, method, operation)
    operation["responses"] = dict(sorted(operation["responses"].items()))


def _not_null(param: dict[str, Any]) -> None:
    """A parameter is sent or left out; it is never ``null`` (FastAPI writes ``X | None``)."""
    schema = param.get("schema", {})
    branches = [b for b in schema.get("anyOf", ()) if b.get("type") != "null"]
    if "anyOf" in schema and len(branches) == 1:
        kept = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        param["schema"] = {**branches[0], **kept}
    elif "anyOf" in schema:
        schema["anyOf"] = branches
    if param.get("schema", {}).get("default", 0) is None:
        del param["schema"]["default"]


def _statuses(
    path: str, method: str, operation: dict[str, Any], route: APIRoute, rule: Rule | None
) -> set[int]:
    found = {400, 413, 503} if path.startswith("/api/") else {503}
    if rule is not None and rule.audience is not Audience.PUBLIC:
        found |= {401, 403}
    if "{" in path:
        found.add(404)
    if route.body_field is not None or route.dependant.query_params:
        found |= {400, 422}
    if any(call is get_if_match for call in _calls(route.dependant)):
        found.add(412)
    if method == "get":
        found.add(304)
    if path in UNLIMITED_PATHS:
        found -= {400, 413}
    return found | {431}


def _list_parameters(params: list[dict[str, Any]], route: APIRoute) -> None:
    by_name = {p.get("name"): p for p in params if p.get("in") == "query"}
    for name, schema in PAGING.items():
        param = by_name.get(name)
        if param is None:
            param = {"name": name, "in": "query", "required": False}
            params.append(param)
        param["schema"] = dict(schema)
        param["description"] = PAGING_DOC[name]
    sortable = _sortable(route)
    if sortable:
        param = by_name.get("sort")
        if param is None:
            param = {"name": "sort", "in": "query", "required": False}
            params.append(param)
        param["schema"] = {
            "type": "string",
            "pattern": sort_pattern(sortable),
            # The single-field values, one per direction (the pattern also allows ties).
            "examples": sort_values(sortable),
        }
        choices = ", ".join(sorted(sortable))
        param["description"] = (
            f"`field` or `-field` (descending), comma-separated for ties; fields: {choices}."
        )


def _sortable(route: APIRoute) -> frozenset[str]:
    call = list_dependency(route)
    fields = getattr(call, "sortable", None)
    if fields is None:
        # Routes that sort by hand keep their columns beside the handler as SORTABLE.
        globals_ = getattr(route.endpoint, "__globals__", {})
        fields = globals_.get("SORTABLE") if "sort" in _query_names(route) else None
    return frozenset(fields or ())


def _query_names(route: APIRoute) -> set[str]:
    return {param.alias for param in route.dependant.query_params}


def sort_values(fields: frozenset[str]) -> list[str]:
    values = set()
    for name in fields:
        values.add(name)
        if not name.startswith("-"):
            values.add(f"-{name}")
    return sorted(values)


def sort_pattern(fields: frozenset[str]) -> str:
    """What ``sort`` accepts: ``field`` or ``-field`` (a field declared ``-name`` sorts
    descending only), comma-separated."""
    terms = sorted(f"-{name[1:]}" if name.startswith("-") else f"-?{name}" for name in fields)
    one = "(" + "|".join(terms) + ")"
    return f"^{one}(,{one})*$"


def _as_array(plain: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The items of a page: the plain shape itself, or the array inside a plain shape that
    is an object (``/api/me/orgs`` answers ``{orgs, count}`` without paging)."""
    if plain.get("type") == "array" or "$ref" not in plain:
        return plain
    target = schemas.get(plain["$ref"].rsplit("/", 1)[1], {})
    arrays = [p for p in target.get("properties", {}).values() if p.get("type") == "array"]
    return arrays[0] if len(arrays) == 1 else {"type": "array"}


def _list_shapes(responses: dict[str, Any], schemas: dict[str, Any]) -> None:
    ok = responses.get("200")
    if ok is None:
        return
    content = ok.setdefault("content", {}).setdefault("application/json", {})
    plain = content.get("schema", {"type": "array", "items": {}})
    content["schema"] = {
        "oneOf": [
            plain,
            {
                "type": "object",
                "required": ["data", "meta"],
                "properties": {
                    "data": _as_array(plain, schemas),
                    "meta": {"$ref": "#/components/schemas/ListMeta"},
                },
            },
        ]
    }
    headers = ok.setdefault("headers", {})
    headers["X-Total-Count"] = _ref("X-Total-Count", required=True)
    headers["Link"] = _ref("Link")


def _error_schema(response: dict[str, Any]) -> dict[str, Any]:
    """The envelope; where the route declared its codes for this status (``errors(...)``,
    ``x-codes``), ``code`` is one of them, so a client or generator knows exactly which."""
    codes = response.get("x-codes")
    if not codes:
        return {"$ref": ERROR}
    return {"allOf": [{"$ref": ERROR}, {"properties": {"code": {"enum": sorted(codes)}}}]}


def _validation_schema(response: dict[str, Any]) -> dict[str, Any]:
    """The 422 envelope, its ``code`` one of the route's 422 codes (``validation_failed`` and
    the rules' own, such as ``day_over_limit``)."""
    codes = sorted(response.get("x-codes") or ["validation_failed"])
    code = {"properties": {"code": {"enum": codes}}}
    return {"allOf": [{"$ref": VALIDATION_ERROR}, code]}


def _json_error() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ERROR}}}


def _limits(path: str, operation: dict[str, Any]) -> None:
    if path in UNLIMITED_PATHS:
        return
    operation["responses"].setdefault("429", {"description": DESCRIPTIONS[429]})
    if "content" not in operation["responses"]["429"]:
        operation["responses"]["429"]["content"] = {"application/json": {"schema": {"$ref": ERROR}}}


def _ref(name: str, required: bool = False) -> dict[str, Any]:
    if required:  # inline: a Reference Object cannot carry `required` beside it
        return {**copy.deepcopy(HEADERS[name]), "required": True}
    return {"$ref": f"#/components/headers/{name}"}


def _common_headers(path: str, method: str, operation: dict[str, Any]) -> None:
    # A missing or bad credential is challenged; a failed sign-in (a public route) is not.
    challenged = bool(operation.get("security"))
    for status, response in operation["responses"].items():
        if "$ref" in response:
            continue
        headers = response.setdefault("headers", {})
        headers["X-Request-Id"] = _ref("X-Request-Id", required=True)
        if path not in UNLIMITED_PATHS:
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                headers[name] = _ref(name)
        if status in ("429", "503"):
            headers["Retry-After"] = _ref("Retry-After", required=True)
        if status == "201" and not path.startswith("/oauth/"):
            # RFC 7591 registration answers 201 without a resource to GET.
            headers["Location"] = _ref("Location", required=True)
        if status in ("200", "304") and method == "get":
            # The ETag layer tags every 200 GET and answers 304 for a current tag.
            headers["ETag"] = _ref("ETag", required=True)
        if status == "401" and challenged:
            headers["WWW-Authenticate"] = _ref("WWW-Authenticate", required=True)


def _describe_security(operation: dict[str, Any], rule: Rule | None) -> None:
    if rule is None or rule.audience is Audience.PUBLIC:
        operation["security"] = []
        return
    schemes: list[dict[str, list[str]]] = [{"session": []}]
    if rule.tokens:
        schemes = [{"bearer": []}, {"authToken": []}, *schemes]
    operation["security"] = schemes
    operation["x-projekt-authorization"] = {
        "audience": rule.audience.value,
        "min_role": rule.min_role.value if rule.audience in ("org", "path_org") else None,
        "tokens": rule.tokens,
    }


class ServedSpec:
    """The document an app serves, made when first asked for (``/openapi.json``,
    ``/openapi.yaml``, ``projekt openapi``). Building it was most of ``create_app``'s time and
    about 16 MB of each worker's memory, and a worker that serves the API never needs it."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._lock = threading.Lock()  # the first two askers build it once
        self._json: bytes | None = None
        self._yaml: bytes | None = None

    def json(self) -> bytes:
        with self._lock:
            if self._json is None:
                self._json = json.dumps(self._build(), indent=2).encode() + b"\n"
            return self._json

    def document(self) -> dict[str, Any]:
        """A copy of the document, the caller's to read or change."""
        loaded: dict[str, Any] = json.loads(self.json())
        return loaded

    def yaml(self) -> bytes:
        """The same document as YAML (about a second to render: done once)."""
        if self._yaml is None:
            rendered = render_yaml(self.document()).encode()
            with self._lock:
                self._yaml = rendered
        return self._yaml


def served_spec(app: FastAPI) -> ServedSpec:
    spec: ServedSpec = app.state.openapi
    return spec


def render_yaml(spec: dict[str, Any]) -> str:
    import yaml  # here: a worker that serves the API never renders it

    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)
