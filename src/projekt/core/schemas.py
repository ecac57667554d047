"""Base schemas: inputs forbid unknown fields; outputs serialize timestamps the documented way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


def iso_utc(value: datetime) -> str:
    """``2026-05-28T09:14:02Z``: UTC, second precision, a Z suffix (API.md §2)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]


class InputModel(BaseModel):
    """A request body: unknown and server-owned fields are refused with 422."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
