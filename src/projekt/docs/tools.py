"""Docs through MCP: find, read and write a project's docs, as markdown (what a model reads
and writes best; EditorJS blocks are accepted too, as by the REST routes)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from projekt.core.conditional import IfMatch
from projekt.core.pagination import SortKeys
from projekt.core.responses import dumps
from projekt.core.schemas import InputModel, Uuid
from projekt.docs.schemas import DocCreate, DocUpdate
from projekt.docs.service import DocService, doc_markdown, doc_read
from projekt.mcp.registry import Call, Result, Tools

tools = Tools()

IN_TREE_ORDER: SortKeys = (("position", False),)


class DocQuery(InputModel):
    project_id: Uuid
    q: str | None = Field(default=None, min_length=1, max_length=200)
    include_archived: bool = False
    limit: int = Field(default=25, ge=1, le=100)
    offset: int = Field(default=0, ge=0)


class DocRef(InputModel):
    project_id: Uuid
    doc_id: Uuid


# The REST request models with the ids the path carries: what they validated (the blocks or the
# markdown) goes to the service as it is, not validated again.
class NewDoc(DocCreate):
    project_id: Uuid


class DocEdit(DocUpdate):
    project_id: Uuid
    doc_id: Uuid


def _service(call: Call) -> DocService:
    return DocService(call.uow.session, call.services, call.ctx)


def _line(doc: dict[str, Any]) -> str:
    archived = " (archived)" if doc["is_archived"] else ""
    return f"{doc['title']}{archived}, version {doc['version']} ({doc['id']})"


@tools.tool("list_docs", title="List docs", route="list_docs", input=DocQuery, read_only=True)
async def list_docs(call: Call, args: DocQuery) -> Result:
    """List a project's docs in tree order (parent_doc_id names a doc's parent), without their
    content; q searches titles and content. Read one with get_doc."""
    found, total = await _service(call).page_of(
        args.project_id,
        include_archived=args.include_archived,
        q=args.q,
        sort=IN_TREE_ORDER,
        limit=args.limit,
        offset=args.offset,
    )
    docs = orjson.loads(dumps(found))  # as the route answers them: ids and times as text
    text = f"{len(docs)} of {total} docs" + (
        ":\n" + "\n".join(_line(d) for d in docs) if docs else "."
    )
    return Result({"docs": docs, "total": total}, text)


@tools.tool("get_doc", title="Read a doc", route="get_doc", input=DocRef, read_only=True)
async def get_doc(call: Call, args: DocRef) -> Result:
    """Read one doc: its title and content as markdown."""
    found = await _service(call).read(args.project_id, args.doc_id)
    doc = orjson.loads(dumps(found.summary))
    markdown = doc_markdown(found)
    return Result({**doc, "markdown": markdown}, f"# {doc['title']}\n\n{markdown}")


@tools.tool("create_doc", title="Write a doc", route="create_doc", input=NewDoc)
async def create_doc(call: Call, args: NewDoc) -> Result:
    """Write a new doc in a project from markdown (headings, lists, checklists, quotes, code,
    tables, links), optionally under a parent doc. Returns it with its id."""
    created = doc_read(await _service(call).create(args.project_id, args))  # a DocCreate
    doc = created.model_dump(mode="json", exclude={"blocks"})
    return Result(doc, f"Wrote {_line(doc)}")


@tools.tool("update_doc", title="Edit a doc", route="update_doc", input=DocEdit, idempotent=True)
async def update_doc(call: Call, args: DocEdit) -> Result:
    """Change a doc: its title, its content (markdown replaces the whole content; read it with
    get_doc first), its parent or archive it. A changed title or content saves a new
    version."""
    updated = await _service(call).update(args.project_id, args.doc_id, args, IfMatch())
    doc = doc_read(updated).model_dump(mode="json", exclude={"blocks"})
    return Result(doc, f"Updated {_line(doc)}")
