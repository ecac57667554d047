"""The two list shapes of API.md §2, paging parameters, and sort parsing.

Every collection route declares ``ListQueryDep``-style parameters with ``list_params(...)``: one
cheap dependency (no sub-dependencies) that declares ``limit``, ``offset``, ``page``,
``per_page`` and ``sort`` (so they are in the spec), refuses a bad value with 400 before the
handler runs, and hands the handler a ``ListQuery`` that answers in either shape.
``tests/test_rules.py`` walks every list route of the app and fails for one that escapes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import ColumnElement
from starlette.datastructures import QueryParams
from starlette.responses import Response

from projekt.core.errors import BadPaging, BadSort
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
    return paging_of({name: query.get(name) for name in PAGING_PARAMS if name in query})


def paging_of(sent: Mapping[str, str | None]) -> Paging:
    """The paging parameters that were sent (absent ones left out) as limit and offset."""
    if not sent:
        return Paging(PLAIN_CAP, 0, enveloped=False)
    values = {name: _int(name, value) for name, value in sent.items()}
    if "offset" in values and "page" in values:
        raise BadPaging("Use either offset or page, not both.")
    size = values.get("limit", values.get("per_page", 50))
    if not 1 <= size <= MAX_LIMIT:
        raise BadPaging(f"limit/per_page must be between 1 and {MAX_LIMIT}.")
    if "page" in values:
        if not 1 <= values["page"] <= MAX_PAGE:
            raise BadPaging(f"page must be between 1 and {MAX_PAGE}.")
        offset = (values["page"] - 1) * size
    else:
        offset = values.get("offset", 0)
        if not 0 <= offset <= MAX_OFFSET:
            raise BadPaging(f"offset must be between 0 and {MAX_OFFSET}.")
    return Paging(size, offset, enveloped=True)


def cursor_limit(value: str | None, default: int) -> int:
    """``limit`` of a list paged by cursor (the audit log, the changes feed): 1 to
    ``MAX_LIMIT``, else 400 as on every other list (§9)."""
    if value is None:
        return default
    size = _int("limit", value)
    if not 1 <= size <= MAX_LIMIT:
        raise BadPaging(f"limit must be between 1 and {MAX_LIMIT}.")
    return size


def _int(name: str, value: str | None) -> int:
    # Plain ASCII digits only: int() would also take "1_000", " 5" or other scripts' digits.
    # Twelve digits are more than any bound here, so a longer number is out of range anyway.
    if value is None or not _WHOLE.fullmatch(value):
        if value is not None and re.fullmatch(r"-?[0-9]+", value):
            raise BadPaging(f"{name} is out of range.")
        raise BadPaging(f"{name} must be a whole number.")
    return int(value)


def parse_sort(
    value: str | None,
    columns: Mapping[str, Any],
    default: str,
) -> list[ColumnElement[Any]]:
    """``sort=field`` or ``sort=-field`` (comma-separated for ties) into ORDER BY clauses."""
    return order_by(sort_keys(value, columns, default), columns)


SortKeys = tuple[tuple[str, bool], ...]  # (field, descending), most significant first


def sort_keys(value: str | None, fields: Collection[str], default: str) -> SortKeys:
    """Parse ``sort``; a field declared as ``-field`` is offered in that direction only."""
    keys = []
    for part in (value or default).split(","):
        # Exactly `field` or `-field`, as the spec's pattern says (no spaces, no `+`).
        desc = part.startswith("-")
        name = part[1:] if desc else part
        if name not in fields and not (desc and f"-{name}" in fields):
            allowed = ", ".join(sorted(fields))
            raise BadSort(f"Cannot sort by '{name}'; use one of: {allowed}.")
        keys.append((name, desc))
    return tuple(keys)


def order_by(keys: SortKeys, columns: Mapping[str, Any]) -> list[ColumnElement[Any]]:
    return [columns[name].desc() if desc else columns[name].asc() for name, desc in keys]


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
        extra["Link"] = next_link(url_path, query, paging)
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


def next_link(url_path: str, query: QueryParams, paging: Paging) -> str:
    # The next page always uses limit/offset, so following it answers the {data, meta} shape.
    kept = [(k, v) for k, v in query.multi_items() if k not in PAGING_PARAMS]
    nxt = [("offset", str(paging.offset + paging.limit)), ("limit", str(paging.limit))]
    return f'<{url_path}?{urlencode([*kept, *nxt])}>; rel="next"'


# -- the list dependency ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A collection request: its page, its validated sort, and where the next page lives."""

    limit: int
    offset: int
    enveloped: bool
    sort: SortKeys
    sort_text: str  # as sent, or the route's default
    url_path: str
    query: QueryParams

    @property
    def paging(self) -> Paging:
        return Paging(self.limit, self.offset, self.enveloped)

    def order_by(self, columns: Mapping[str, Any]) -> list[ColumnElement[Any]]:
        return order_by(self.sort, columns)

    def page_of(self, items: Iterable[Any]) -> tuple[list[Any], int]:
        """Sort and slice an in-memory collection (models or dicts); returns (page, total)."""
        rows = list(items)
        for name, desc in reversed(self.sort):  # stable sorts, least significant key first
            rows.sort(key=lambda row: _sort_value(row, name), reverse=desc)
        return rows[self.offset : self.offset + self.limit], len(rows)

    def respond(
        self,
        items: Sequence[Any],
        total: int,
        headers: Mapping[str, str] | None = None,
        plain: Callable[[list[Any], int], Any] | None = None,
    ) -> Response:
        """Either list shape of API.md §2 for one page; ``plain`` wraps the unpaged shape of a
        route whose documented answer is an object (``/api/me/orgs``)."""
        rows = [_jsonable(item) for item in items]
        if plain is not None and not self.enveloped:
            extra = {**(headers or {}), "X-Total-Count": str(total)}
            if self.offset + len(rows) < total:
                extra["Link"] = next_link(self.url_path, self.query, self.paging)
            return Response(dumps(plain(rows, total)), media_type="application/json", headers=extra)
        return list_response(rows, total, self.paging, self.url_path, self.query, headers)


def _sort_value(row: Any, name: str) -> tuple[int, Any]:
    value = row[name] if isinstance(row, Mapping) else getattr(row, name)
    return (1, 0) if value is None else (0, value)  # nulls last, and never compared to values


def _jsonable(item: Any) -> Any:
    return item.model_dump(mode="json") if isinstance(item, BaseModel) else item


ListDependency = Callable[..., Coroutine[Any, Any, ListQuery]]


def list_params(*sortable: str, default: str) -> ListDependency:
    """The list mechanism of one collection route: ``Annotated[ListQuery, Depends(...)]``.

    ``sortable`` names the fields ``sort`` accepts; ``default`` is the order without one.
    """
    fields = frozenset(sortable)
    sort_keys(default, fields, default)  # a typo in a route's default fails at import
    choices = ", ".join(sorted(fields))
    sort_doc = f"`field` or `-field` (comma-separated for ties), one of: {choices}."

    # One plain coroutine with the parameters as its own (no sub-dependencies): the issue list
    # is the hottest route, and each level of dependency costs FastAPI a resolution per request.
    async def list_query(
        request: Request,
        limit: str | None = Query(
            None, description=f"Page size, 1–{MAX_LIMIT}; answers {{data, meta}}."
        ),
        offset: str | None = Query(None, description="Items to skip; answers {data, meta}."),
        page: str | None = Query(None, description="Page number from 1 (with per_page)."),
        per_page: str | None = Query(None, description=f"Page size, 1–{MAX_LIMIT}."),
        sort: str | None = Query(None, description=sort_doc),
    ) -> ListQuery:
        if limit is None and offset is None and page is None and per_page is None:
            paging = Paging(PLAIN_CAP, 0, enveloped=False)
        else:
            sent = {"limit": limit, "offset": offset, "page": page, "per_page": per_page}
            paging = paging_of({k: v for k, v in sent.items() if v is not None})
        return ListQuery(
            paging.limit,
            paging.offset,
            paging.enveloped,
            sort_keys(sort, fields, default),
            sort or default,
            request.url.path,
            request.query_params,
        )

    list_query.sortable = fields  # type: ignore[attr-defined]
    list_query.is_list_params = True  # type: ignore[attr-defined]
    return list_query


def is_list_params(call: object) -> bool:
    """Whether a dependency is the list mechanism (the sweep test and the spec ask this)."""
    return getattr(call, "is_list_params", False) is True
