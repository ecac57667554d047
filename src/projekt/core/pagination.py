"""The two list shapes of API.md §2, paging parameters, and sort parsing."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement
from starlette.datastructures import QueryParams
from starlette.responses import Response

from projekt.core.errors import BadRequest
from projekt.core.responses import dumps

PLAIN_CAP = 100
MAX_LIMIT = 200
PAGING_PARAMS = ("limit", "offset", "page", "per_page")
# Bounded so that no value reaches the database as a number it cannot hold (past 2^63 the
# drivers fail, which answered 500): no list is paged two billion items deep.
MAX_OFFSET = 2**31 - 1
# The last page any per_page can reach within MAX_OFFSET: one bound, the same for every size,
# so the spec can state it exactly.
MAX_PAGE = MAX_OFFSET // MAX_LIMIT + 1
_WHOLE = re.compile(r"-?[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int
    enveloped: bool  # any paging parameter was sent: answer {data, meta}


def parse_paging(query: QueryParams) -> Paging:
    sent = {name: query.get(name) for name in PAGING_PARAMS if name in query}
    if not sent:
        return Paging(PLAIN_CAP, 0, enveloped=False)
    values = {name: _int(name, value) for name, value in sent.items()}
    if "offset" in values and "page" in values:
        raise BadRequest("Use either offset or page, not both.", code="bad_paging")
    size = values.get("limit", values.get("per_page", 50))
    if not 1 <= size <= MAX_LIMIT:
        raise BadRequest(f"limit/per_page must be between 1 and {MAX_LIMIT}.", code="bad_paging")
    if "page" in values:
        if not 1 <= values["page"] <= MAX_PAGE:
            raise BadRequest(f"page must be between 1 and {MAX_PAGE}.", code="bad_paging")
        offset = (values["page"] - 1) * size
    else:
        offset = values.get("offset", 0)
        if not 0 <= offset <= MAX_OFFSET:
            raise BadRequest(f"offset must be between 0 and {MAX_OFFSET}.", code="bad_paging")
    return Paging(size, offset, enveloped=True)


def _int(name: str, value: str | None) -> int:
    # Plain ASCII digits only: int() would also take "1_000", " 5" or other scripts' digits.
    # Twelve digits are more than any bound here, so a longer number is out of range anyway.
    if value is None or not _WHOLE.fullmatch(value):
        if value is not None and re.fullmatch(r"-?[0-9]+", value):
            raise BadRequest(f"{name} is out of range.", code="bad_paging")
        raise BadRequest(f"{name} must be a whole number.", code="bad_paging")
    return int(value)


def parse_sort(
    value: str | None,
    columns: Mapping[str, Any],
    default: str,
) -> list[ColumnElement[Any]]:
    """``sort=field`` or ``sort=-field`` (comma-separated for ties) into ORDER BY clauses."""
    order: list[ColumnElement[Any]] = []
    for part in (value or default).split(","):
        # Exactly `field` or `-field`, as the spec's pattern says (no spaces, no `+`).
        descending = part.startswith("-")
        name = part[1:] if descending else part
        if name not in columns:
            allowed = ", ".join(sorted(columns))
            raise BadRequest(f"Cannot sort by '{name}'; use one of: {allowed}.", code="bad_sort")
        column = columns[name]
        order.append(column.desc() if descending else column.asc())
    return order


def list_response(
    items: Sequence[Any],
    total: int,
    paging: Paging,
    url_path: str,
    query: QueryParams,
    headers: Mapping[str, str] | None = None,
) -> Response:
    extra = {**(headers or {}), "X-Total-Count": str(total)}
    if paging.offset + len(items) < total:
        # The next page always uses limit/offset, so following it answers the {data, meta} shape.
        kept = [(k, v) for k, v in query.multi_items() if k not in PAGING_PARAMS]
        nxt = [("offset", str(paging.offset + paging.limit)), ("limit", str(paging.limit))]
        extra["Link"] = f'<{url_path}?{urlencode([*kept, *nxt])}>; rel="next"'
    if not paging.enveloped:
        return Response(dumps(items), media_type="application/json", headers=extra)
    body = {
        "data": items,
        "meta": {
            "total": total,
            "page": paging.offset // paging.limit + 1,
            "per_page": paging.limit,
            "pages": math.ceil(total / paging.limit) if total else 0,
            "limit": paging.limit,
            "offset": paging.offset,
        },
    }
    return Response(dumps(body), media_type="application/json", headers=extra)
