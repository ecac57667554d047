"""Request bodies of the OAuth endpoints (RFC 7591 client registration)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from projekt.core.schemas import InputModel

GrantType = Literal["authorization_code", "refresh_token"]
# The form of what redirect_problem() may accept (a superset: the server's check is the
# authority): http(s), then a host part without spaces, #, backslash, @ or *, then a path
# without spaces, # or backslash.
REDIRECT_URI_PATTERN = r"^https?://[^\s#\\@*/]+(/[^\s#\\]*)?$"
# Checked by redirect_problem() (invalid_redirect_uri), so only stated for the spec here.
RedirectUri = Annotated[
    str, Field(json_schema_extra={"pattern": REDIRECT_URI_PATTERN, "maxLength": 2000})
]


class Registration(InputModel):
    """RFC 7591 client metadata. Strict like every body, except that metadata this server does
    not know is ignored rather than refused: RFC 7591 §2 says the server MUST ignore it."""

    model_config = ConfigDict(extra="ignore")

    client_name: str = Field(default="Unnamed client", min_length=1, max_length=200)
    redirect_uris: list[RedirectUri] = Field(min_length=1, max_length=10)
    grant_types: list[GrantType] = Field(
        default=["authorization_code", "refresh_token"],
        min_length=1,
        json_schema_extra={"contains": {"const": "authorization_code"}},
    )
    response_types: list[Literal["code"]] = Field(default=["code"], min_length=1, max_length=1)
    token_endpoint_auth_method: Literal["none", "client_secret_basic", "client_secret_post"] = (
        "none"
    )
