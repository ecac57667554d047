"""Base schemas: inputs are strict and say exactly what they take; outputs serialize timestamps
the documented way.

Every request body derives from ``InputModel`` (a sweep test walks every route for it):

- **Nothing is coerced.** ``"yes"``, ``0`` and ``"off"`` are not booleans, ``"5"`` is not a
  number, ``false`` is not 0, ``0`` is not a date. Strings are taken as sent (no trimming: the
  spec's lengths and patterns are then exactly what the server checks).
- **Unknown fields are refused** with 422 naming them (server-owned ones included).
- **``null`` means one thing** (API.md §2): a field whose type admits ``None`` is clearable and
  ``null`` clears it; any other field refuses ``null`` with 422 naming it, even when it may be
  left out. Declare a field that may be omitted but not cleared with ``omitted()``:
  ``name: str = omitted(min_length=1)``. The spec then marks exactly the clearable fields
  nullable, because it is generated from the same types.
- JSON has no UUID or date types: ``Uuid``, ``Day`` and ``Instant`` take their ISO strings (and
  only strings), as the spec's ``format`` says.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)


def iso_utc(value: datetime) -> str:
    """``2026-05-28T09:14:02Z``: UTC, second precision, a Z suffix (API.md §2)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day_text(value: Any) -> Any:
    # A Python ``date`` passes (services build models too); from JSON only "YYYY-MM-DD".
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.match(value) and len(value) > 10:
        return value
    raise ValueError("must be an ISO 8601 date and time, such as 2026-05-28T09:14:02Z")


def in_utc_range(value: datetime | None) -> datetime | None:
    """An instant whose offset takes it past year 1 or 9999 in UTC (0001-01-01T00:00+14:00)
    parses, but cannot be stored or compared: refused as input, not failed on in the driver."""
    if value is not None and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must fall between the years 1 and 9999 in UTC") from None
    return value


def whole_number(value: Any) -> Any:
    # JSON does not tell 5 from 5.0 (RFC 8259 §6), and neither does the spec's "integer";
    # anything else (true, "5", 5.5) is refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be a whole number")


# Lax inside, so the ISO string is parsed (strict mode wants a UUID object); lax UUIDs already
# refuse numbers, and JSON has no bytes, so no Python check runs on the hot path. Dates do need
# one: lax dates would take a Unix timestamp.
Uuid = Annotated[uuid.UUID, Field(strict=False)]
Day = Annotated[date, Field(strict=False), BeforeValidator(_day_text)]
Instant = Annotated[
    datetime, Field(strict=False), BeforeValidator(_instant_text), AfterValidator(in_utc_range)
]
Whole = Annotated[int, BeforeValidator(whole_number)]
# With bounds: they go before the validator, or the spec would show pydantic's ge/le keywords
# instead of minimum/maximum.
Position = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(whole_number)]

# A string that must hold something besides white space (the spec says so with the pattern).
NOT_BLANK = r"\S"


def omitted(**constraints: Any) -> Any:
    """A field that may be left out but never sent as ``null`` (its type does not admit None).

    ``None`` is only the marker of "not sent": services read ``model_dump(exclude_unset=True)``.
    """
    return Field(default=None, **constraints)


def _exact_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The JSON Schema of an input says what the validator does: a field that refuses null has
    no ``default: null`` (which a client would take for an allowed value)."""
    for name, prop in schema.get("properties", {}).items():
        field = model.model_fields.get(name)
        sent_null = field is not None and field.default is None and "default" in prop
        if sent_null and prop["default"] is None and not _admits_null(prop):
            del prop["default"]


def _admits_null(prop: dict[str, Any]) -> bool:
    if prop.get("type") == "null":
        return True
    return any(_admits_null(branch) for branch in prop.get("anyOf", ()))


class InputModel(BaseModel):
    """A request body: strict types, unknown and server-owned fields refused with 422."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_exact_schema)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
