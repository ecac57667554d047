"""What the OAuth endpoints take and answer, for the spec (their handlers read the request
themselves: RFC 6749 wants form bodies and its own error format, RFC 7591 its own JSON)."""

from __future__ import annotations

from typing import Any

from projekt.core.schemas import InputModel

OAUTH_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "invalid_request, invalid_grant, …"},
        "error_description": {"type": "string"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(OAUTH_ERROR)}


_NO_STORE = {"Cache-Control": {"schema": {"type": "string"}, "required": True}}

ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The request is malformed or the grant is not valid (RFC 6749 §5.2)."),
    401: {
        **_error("Client authentication failed (invalid_client)."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    },
    413: _error("Body over the size limit."),
    429: _error("Rate limit exceeded."),
    503: _error("Temporarily unavailable (temporarily_unavailable); retry."),
}

_FORM_FIELD = {"type": "string", "maxLength": 2000}


def form_body(required: list[str], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": required, "properties": fields}
                }
            },
        }
    }


TOKEN_REQUEST = form_body(
    ["grant_type"],
    {
        "grant_type": {"type": "string", "enum": ["authorization_code", "refresh_token"]},
        "code": _FORM_FIELD,
        "redirect_uri": _FORM_FIELD,
        "code_verifier": _FORM_FIELD,
        "refresh_token": _FORM_FIELD,
        "resource": _FORM_FIELD,
        "scope": _FORM_FIELD,
        "client_id": _FORM_FIELD,
        "client_secret": _FORM_FIELD,
    },
)
TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Tokens (RFC 6749 §5.1).",
        "headers": _NO_STORE,
        "content": _json(
            {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"type": "string", "enum": ["Bearer"]},
                    "expires_in": {"type": "integer"},
                    "refresh_token": {"type": "string"},
                    "scope": {"type": "string"},
                },
            }
        ),
    },
    **ERRORS,
}

REVOKE_REQUEST = form_body(
    ["token"],
    {
        "token": _FORM_FIELD,
        "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        "client_id": _FORM_FIELD,
        "client_secret": _FORM_FIELD,
    },
)
REVOKE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Revoked, or was never valid (RFC 7009 §2.2).", "content": _json({})},
    **ERRORS,
}


def register_request(model: type[InputModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": _json(schema)}}


REGISTER_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The registered client (RFC 7591 §3.2.1).",
        "content": _json(
            {
                "type": "object",
                "required": ["client_id", "redirect_uris"],
                "properties": {
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "client_id_issued_at": {"type": "integer"},
                    "client_secret_expires_at": {"type": "integer"},
                    "client_name": {"type": "string"},
                    "redirect_uris": {"type": "array", "items": {"type": "string"}},
                    "grant_types": {"type": "array", "items": {"type": "string"}},
                    "response_types": {"type": "array", "items": {"type": "string"}},
                    "token_endpoint_auth_method": {"type": "string"},
                },
            }
        ),
    },
    400: _error("invalid_client_metadata or invalid_redirect_uri (RFC 7591 §3.2.2)."),
    413: ERRORS[413],
    429: ERRORS[429],
    503: ERRORS[503],
}

_HTML = {"text/html": {"schema": {"type": "string"}}}
_QUERY = ("response_type", "client_id", "redirect_uri", "code_challenge", "state", "resource")
AUTHORIZE_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
        }
        for name in (*_QUERY, "code_challenge_method", "scope")
    ]
}
AUTHORIZE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The consent page (HTML).", "content": _HTML},
    303: {
        "description": "To sign-in, or back to the client with a code or an error.",
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    },
    400: {"description": "Unknown client or unregistered redirect (HTML page).", "content": _HTML},
    429: _error("Rate limit exceeded."),
    503: _error("Temporarily unavailable; retry."),
}
AUTHORIZE_DECISION = form_body(
    [],
    {
        **{name: _FORM_FIELD for name in (*_QUERY, "code_challenge_method", "scope")},
        "org_id": {"type": "string", "format": "uuid"},
        "decision": {"type": "string", "enum": ["approve", "deny"]},
        "csrf_token": _FORM_FIELD,
    },
)
AUTHORIZE_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTHORIZE_RESPONSES,
    403: {
        "description": "A cross-site post, or a session post without the CSRF token.",
        "content": _json({"$ref": "#/components/schemas/Error"}),
    },
}
