"""The practical ceiling: Starlette + asyncpg + orjson answering the same list/get/create on the
same tables, with no auth, no rate limit, no ORM. Run by ``make bench`` beside the real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEYS = [
    "id",
    "number",
    "project_id",
    "title",
    "description",
    "status",
    "priority",
    "type",
    "assignee_id",
    "reporter_id",
    "labels",
    "estimated_hours",
    "sprint_id",
    "parent_id",
    "due_date",
    "external_ref",
    "archived",
    "created_at",
    "updated_at",
]
FIELDS = ", ".join(f"issues.{name}" for name in KEYS)
LIST = f"""
SELECT {FIELDS}, p.key AS project_key, p.open_issues AS total
FROM issues JOIN projects p ON p.id = issues.project_id
WHERE issues.project_id = $1 AND issues.archived = false
ORDER BY issues.created_at DESC, issues.id LIMIT $2 OFFSET $3
"""
GET = f"""
SELECT {FIELDS}, p.key AS project_key FROM issues JOIN projects p ON p.id = issues.project_id
WHERE p.key = $1 AND issues.number = $2
"""
COMMENTS = """
SELECT id, issue_id, author_id, parent_id, text, created_at, updated_at FROM comments
WHERE issue_id = $1 ORDER BY created_at, id
"""
ALLOCATE = """
UPDATE projects SET issue_seq = issue_seq + 1, issues_version = issues_version + 1,
  open_issues = open_issues + 1
WHERE id = $1 RETURNING issue_seq, key, org_id
"""
INSERT = """
INSERT INTO issues (id, org_id, project_id, number, title, description, status, priority, type,
  reporter_id, labels, archived, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'Backlog', $7, 'task', NULL, '[]'::jsonb, false, 1, $8, $8)
"""
statements = 0


def _default(value: Any) -> str:
    return str(value)


def _json(content: Any, status: int = 200) -> Response:
    body = orjson.dumps(
        content, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
    )
    return Response(body, status, media_type="application/json")


def _issue(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(zip(KEYS, row, strict=False))
    item["labels"] = orjson.loads(item["labels"])
    return {"id": item.pop("id"), "key": f"{row['project_key']}-{row['number']}", **item}


async def list_issues(request: Request) -> Response:
    global statements
    limit = int(request.query_params.get("limit", "50"))
    offset = int(request.query_params.get("offset", "0"))
    project_id = uuid.UUID(request.query_params["project_id"])
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(LIST, project_id, limit, offset)
    statements += 1
    total = rows[0]["total"] if rows else 0
    page = {
        "total": total,
        "page": offset // limit + 1,
        "per_page": limit,
        "pages": -(-total // limit),
        "limit": limit,
        "offset": offset,
    }
    return _json({"data": [_issue(r) for r in rows], "meta": page})


async def get_issue(request: Request) -> Response:
    global statements
    key, _, number = request.path_params["key"].rpartition("-")
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(GET, key, int(number))
        if row is None:
            return _json({"error": "Not found.", "code": "not_found"}, 404)
        comments = await conn.fetch(COMMENTS, row["id"])
    statements += 2
    item = _issue(row)
    item["comments"] = [dict(c) for c in comments]
    return _json(item)


async def create_issue(request: Request) -> Response:
    global statements
    body = orjson.loads(await request.body())
    project_id = uuid.UUID(body["project_id"])
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        seq, key, org_id = await conn.fetchrow(ALLOCATE, project_id)
        issue_id = uuid.uuid4()
        await conn.execute(
            INSERT,
            issue_id,
            org_id,
            project_id,
            seq,
            body["title"],
            body.get("description"),
            body.get("priority", "medium"),
            now,
        )
    statements += 2
    return _json({"id": issue_id, "key": f"{key}-{seq}", "title": body["title"]}, 201)


async def metrics(_request: Request) -> Response:
    return Response(f"projekt_sql_statements_total {statements}\n", media_type="text/plain")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("BASELINE_POOL_SIZE", "8"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DSN"], min_size=size, max_size=size
    )
    yield
    await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/issues", list_issues),
        Route("/issues", create_issue, methods=["POST"]),
        Route("/issues/{key}", get_issue),
        Route("/metrics", metrics),
    ],
    lifespan=lifespan,
)
