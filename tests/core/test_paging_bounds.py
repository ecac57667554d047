"""Integer query parameters are bounded: past what a database integer holds is a 400, not 500;
likewise instants and ISO weeks past the calendar."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import QueryParams

from projekt.core.errors import BadRequest
from projekt.core.pagination import MAX_OFFSET, parse_paging
from projekt.core.schemas import Instant
from tests.factories import Factory

HUGE = [
    "offset=9223372036854775808",
    "offset=9223372036854775807",
    f"offset={MAX_OFFSET + 1}",
    "page=9223372036854775807&per_page=200",
    "page=46116860184273880&per_page=200",
    "limit=99999999999999999999999",
    "per_page=-9223372036854775809",
    "offset=1_000",
    "offset=%EF%BC%91",  # a fullwidth digit: int() would take it
    "offset=%201",
    "offset=" + "9" * 5000,
]


@pytest.mark.parametrize("query", HUGE)
def test_parse_paging_refuses_out_of_range_numbers(query: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_paging(QueryParams(query))
    assert refused.value.code == "bad_paging"


def test_parse_paging_takes_the_largest_offset() -> None:
    assert parse_paging(QueryParams(f"offset={MAX_OFFSET}")).offset == MAX_OFFSET
    assert parse_paging(QueryParams("page=3&per_page=20")).offset == 40


async def test_every_paged_list_answers_400_for_huge_numbers(factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org)
    headers = org.owner.headers(org.id)
    lists = [
        "/api/issues?",
        f"/api/issues?project_id={project.id}&",
        "/api/projects?",
        "/api/sprints?",
    ]
    for url in lists:
        for query in ("offset=9223372036854775808", "page=9223372036854775807&per_page=200"):
            response = await org.owner.client.get(url + query, headers=headers)
            assert response.status_code == 400, (url, query, response.text)
            assert response.json()["code"] == "bad_paging"
        deepest = await org.owner.client.get(f"{url}offset={MAX_OFFSET}", headers=headers)
        assert deepest.status_code == 200, (url, deepest.text)
        assert deepest.json()["data"] == []


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_instant_outside_the_utc_range_is_refused(moment: str) -> None:
    """It parses, but turning it to UTC overflows (a 500 where it reached the database)."""
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(moment)
    assert TypeAdapter(Instant).validate_python("0001-01-02T00:00:00+14:00").year == 1


@pytest.mark.parametrize("week", ["9999-W52", "9999-W53", "0000-W01"])
async def test_a_week_past_the_calendar_is_400(factory: Factory, week: str) -> None:
    org = await factory.org()
    answer = await org.owner.client.get(
        f"/api/timesheets?week={week}", headers=org.owner.headers(org.id)
    )
    assert answer.status_code in (400, 422), answer.text
    ok = await org.owner.client.get(
        "/api/timesheets?week=9999-W51", headers=org.owner.headers(org.id)
    )
    assert ok.status_code == 200, ok.text
