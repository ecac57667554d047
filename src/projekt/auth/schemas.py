from __future__ import annotations

import re
import uuid

from pydantic import Field, field_validator

from projekt.core.schemas import InputModel, OutputModel

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
USERNAME_PATTERN = r"^[a-zA-Z0-9_.-]{2,40}$"


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


class SignupIn(InputModel):
    email: str
    password: str = Field(min_length=10, max_length=1024)
    name: str = Field(min_length=1, max_length=120)
    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        return normalize_email(value)


class LoginIn(InputModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class MeRead(OutputModel):
    id: uuid.UUID
    email: str
    name: str
    username: str | None
    locale: str


class SessionRead(OutputModel):
    """Answer to sign-up and sign-in; the session itself travels in the HttpOnly cookie."""

    user: MeRead
    csrf_token: str = Field(description="Send as X-CSRF-Token on cookie-authenticated writes.")
