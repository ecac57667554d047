"""Integer query parameters are bounded: past what a database integer holds is a 400, not 500."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from projekt.core.errors import BadRequest
from projekt.core.pagination import MAX_OFFSET, parse_paging
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
