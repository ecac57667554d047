"""Request bodies of the OAuth endpoints (RFC 7591 client registration)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Registration(BaseModel):
    client_name: str = Field(default="Unnamed client", min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    grant_types: list[str] = ["authorization_code", "refresh_token"]
    response_types: list[str] = ["code"]
    token_endpoint_auth_method: str = "none"
