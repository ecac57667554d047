"""Docs: the tree rules, versions on every save, markdown both ways, and search."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.errors import ValidationFailed
from projekt.core.pagination import ListQuery, SortKeys
from projekt.core.record import changes, record, snapshot
from projekt.core.responses import dumps
from projekt.docs.content import (
    ContentError,
    check_size,
    from_markdown,
    plain_markdown,
    search_text,
    to_markdown,
)
from projekt.docs.diff import unified_diff
from projekt.docs.errors import DocHasChildren, DocNotFound, DocVersionNotFound
from projekt.docs.models import Doc, DocVersion
from projekt.docs.repository import (
    DocBody,
    DocReads,
    DocRepository,
    DocSummaryRow,
    search_words,
)
from projekt.docs.schemas import (
    DocContent,
    DocCreate,
    DocDiff,
    DocRead,
    DocUpdate,
    DocVersionRead,
    DocVersionSummary,
    EditorJs,
)
from projekt.projects.errors import ProjectNotFound
from projekt.projects.service import ProjectService

# What a doc's events compare (its content is in its versions: the events say which).
RECORDED = ("title", "parent_doc_id", "icon", "position", "is_archived", "version", "size")


def doc_etag(doc_id: uuid.UUID, revision: int) -> str:
    return version_etag("doc", doc_id, revision)


class DocFastPath:
    """The doc reads that run on the fast path only (``DocReads``): a list, a doc, its
    revision. It takes no session, so it cannot open one: those routes never pay for a unit
    of work. ``DocService`` adds the work of the request's unit of work."""

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx
        self.reads = DocReads(services.fast, ctx.org_id, ctx.user_id)

    # -- reads ----------------------------------------------------------------------------------

    async def listing(
        self, project_id: uuid.UUID, listed: ListQuery, *, include_archived: bool, q: str | None
    ) -> tuple[list[DocSummaryRow], int]:
        return await self.page_of(
            project_id,
            include_archived=include_archived,
            q=q,
            sort=listed.sort,
            limit=listed.limit,
            offset=listed.offset,
        )

    async def page_of(
        self,
        project_id: uuid.UUID,
        *,
        include_archived: bool,
        q: str | None,
        sort: SortKeys,
        limit: int,
        offset: int,
    ) -> tuple[list[DocSummaryRow], int]:
        """A page of the project's docs (the list route's and the MCP tool's)."""
        words = search_words(q) if q else []
        if q is not None and not words:
            # Nothing to look for: no doc matches (a project the caller cannot see is still 404).
            if not await self.reads.project_seen(project_id):
                raise ProjectNotFound()
            return [], 0
        page = await self.reads.page(
            project_id,
            include_archived=include_archived,
            words=words,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        if page is None:
            raise ProjectNotFound()
        return page.rows, page.total

    async def read(self, project_id: uuid.UUID, doc_id: uuid.UUID) -> DocBody:
        """The doc as a GET answers it (fast path)."""
        found = await self.reads.body(project_id, doc_id)
        if found is None:
            raise DocNotFound()
        return found

    async def revision(self, project_id: uuid.UUID, doc_id: uuid.UUID) -> int:
        """The doc's revision, what its validators are made of (fast path, no content)."""
        found = await self.reads.revision(project_id, doc_id)
        if found is None:
            raise DocNotFound()
        return found


class DocService(DocFastPath):
    """Docs in the request's unit of work (``session``), and the fast path's reads."""

    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        super().__init__(services, ctx)
        self.session = session
        self.docs = DocRepository(session, ctx.org_id)

    async def _project(self, project_id: uuid.UUID) -> uuid.UUID:
        """The project's id, if the caller sees it (404 otherwise)."""
        projects = ProjectService(self.session, self.services)
        return (await projects.get_visible(self.ctx, project_id)).id

    # -- in the unit of work -------------------------------------------------------------------

    async def get(self, project_id: uuid.UUID, doc_id: uuid.UUID) -> Doc:
        doc = await self.docs.visible_one(self.ctx.user_id, project_id, doc_id)
        if doc is None:
            raise DocNotFound()
        return doc

    async def versions(
        self, project_id: uuid.UUID, doc_id: uuid.UUID, listed: ListQuery
    ) -> tuple[list[DocVersionSummary], int]:
        await self.get(project_id, doc_id)
        rows, total = await self.docs.versions(doc_id, listed.sort, listed.limit, listed.offset)
        return [DocVersionSummary.model_validate(row) for row in rows], total

    async def version(self, project_id: uuid.UUID, doc_id: uuid.UUID, number: int) -> DocVersion:
        await self.get(project_id, doc_id)
        found = await self.docs.version(doc_id, number)
        if found is None:
            raise DocVersionNotFound()
        return found

    async def diff(self, project_id: uuid.UUID, doc_id: uuid.UUID, a: int, b: int) -> DocDiff:
        old, new = await self.version(project_id, doc_id, a), await self.docs.version(doc_id, b)
        if new is None:
            raise DocVersionNotFound()
        diff = unified_diff(
            _document(old.title, old.blocks),
            _document(new.title, new.blocks),
            fromfile=f"version {a}",
            tofile=f"version {b}",
        )
        return DocDiff(doc_id=doc_id, from_version=a, to_version=b, diff=diff)

    async def search(self, q: str, limit: int) -> list[Any]:
        """Docs whose words start with the query's, in every project the caller sees."""
        words = search_words(q)
        if not words:
            return []
        return await self.docs.search(self.ctx.user_id, words, limit)

    # -- writes ---------------------------------------------------------------------------------

    async def create(self, project_id: uuid.UUID, data: DocCreate) -> Doc:
        await self._project(project_id)
        blocks = _content(data) or []
        if data.parent_doc_id is not None:
            await self.docs.lock_project(project_id)
            await self._check_parent(project_id, None, data.parent_doc_id)
        now = self.services.clock.now()
        doc = Doc(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            project_id=project_id,
            parent_doc_id=data.parent_doc_id,
            title=data.title,
            icon=data.icon,
            position=data.position if data.position is not None else 0,
            is_archived=False,
            blocks=blocks,
            search_text=search_text(data.title, blocks),
            size=check_size(blocks),
            version=1,
            revision=1,
            created_by_id=self.ctx.user_id,
            updated_by_id=self.ctx.user_id,
            created_at=now,
            updated_at=now,
        )
        await self.docs.add(doc)
        await self._save_version(doc, None)
        self._record("doc.created", doc, changes(None, snapshot(doc, RECORDED)))
        return doc

    async def update(
        self, project_id: uuid.UUID, doc_id: uuid.UUID, data: DocUpdate, if_match: IfMatch
    ) -> Doc:
        await self._project(project_id)
        sent = data.model_dump(exclude_unset=True)
        blocks = _content(data)
        moving = "parent_doc_id" in sent
        if moving:  # the tree's writers take turns on the project (lock order: project first)
            await self.docs.lock_project(project_id)
        doc = await self._locked(project_id, doc_id, if_match)
        if moving and sent["parent_doc_id"] is not None:
            await self._check_parent(project_id, doc.id, sent["parent_doc_id"])
        before = snapshot(doc, RECORDED)
        for field in ("title", "parent_doc_id", "icon", "position", "is_archived"):
            if field in sent:
                setattr(doc, field, sent[field])
        saved = (blocks is not None and blocks != doc.blocks) or doc.title != before["title"]
        if blocks is not None:
            doc.blocks = blocks
        if saved:
            await self._new_version(doc, None)
        return await self._written(doc, before, saved)

    async def restore(
        self, project_id: uuid.UUID, doc_id: uuid.UUID, number: int, if_match: IfMatch
    ) -> Doc:
        await self._project(project_id)
        doc = await self._locked(project_id, doc_id, if_match)
        old = await self.docs.version(doc.id, number)
        if old is None:
            raise DocVersionNotFound()
        before = snapshot(doc, RECORDED)
        doc.title, doc.blocks = old.title, list(old.blocks)
        await self._new_version(doc, number)
        return await self._written(doc, before, True, kind="doc.restored")

    async def delete(
        self, project_id: uuid.UUID, doc_id: uuid.UUID, if_match: IfMatch, *, cascade: bool
    ) -> None:
        await self._project(project_id)
        await self.docs.lock_project(project_id)
        doc = await self._locked(project_id, doc_id, if_match, deleting=True)
        below = _descendants(await self.docs.tree(project_id), doc.id)
        if below and not cascade:
            raise DocHasChildren()
        gone = [doc, *(await self.docs.many(below) if below else [])]
        await self.docs.delete_many([d.id for d in gone])
        for each in gone:  # one event per doc deleted, the one asked for first
            self._record("doc.deleted", each, changes(snapshot(each, RECORDED), None))

    # -- rules ----------------------------------------------------------------------------------

    async def _locked(
        self, project_id: uuid.UUID, doc_id: uuid.UUID, if_match: IfMatch, *, deleting: bool = False
    ) -> Doc:
        """The doc locked for a write; ``If-Match`` is checked against it as it is now."""
        await self.get(project_id, doc_id)
        doc = await self.docs.get_for_update(doc_id, deleting=deleting)
        if doc is None or doc.project_id != project_id:
            raise DocNotFound()
        if_match.check(doc_etag(doc.id, doc.revision))
        return doc

    async def _check_parent(
        self, project_id: uuid.UUID, doc_id: uuid.UUID | None, parent_id: uuid.UUID
    ) -> None:
        """422 unless the parent is a doc of the same project and not the doc or below it."""
        tree = await self.docs.tree(project_id)
        if parent_id not in tree:
            raise _bad_parent("The parent must be a doc of the same project.")
        if doc_id is not None and (parent_id == doc_id or parent_id in _descendants(tree, doc_id)):
            raise _bad_parent("A doc cannot move below itself.")

    async def _new_version(self, doc: Doc, restored_from: int | None) -> None:
        doc.version += 1
        await self._save_version(doc, restored_from)

    async def _save_version(self, doc: Doc, restored_from: int | None) -> None:
        doc.size = check_size(doc.blocks)
        doc.search_text = search_text(doc.title, doc.blocks)
        await self.docs.add_version(
            DocVersion(
                id=uuid.uuid4(),
                org_id=self.ctx.org_id,
                doc_id=doc.id,
                number=doc.version,
                title=doc.title,
                blocks=doc.blocks,
                size=doc.size,
                restored_from=restored_from,
                author_id=self.ctx.user_id,
                created_at=self.services.clock.now(),
            )
        )

    async def _written(
        self, doc: Doc, before: dict[str, Any], saved: bool, kind: str | None = None
    ) -> Doc:
        diff = changes(before, snapshot(doc, RECORDED), RECORDED)
        if not diff and not saved:
            return doc  # nothing changed: no new revision, no event
        doc.revision += 1
        doc.updated_at = self.services.clock.now()
        doc.updated_by_id = self.ctx.user_id
        await self.session.flush()
        if kind is None:
            archived = diff.get("is_archived", [None, None])[1] is True
            kind = "doc.archived" if archived else "doc.updated"
        self._record(kind, doc, diff)
        return doc

    def _record(self, kind: str, doc: Doc, diff: dict[str, Any]) -> None:
        record(self.session, self.ctx, kind, doc.id, project_id=doc.project_id, changes=diff)


def doc_read(doc: Doc) -> DocRead:
    return DocRead(
        id=doc.id,
        project_id=doc.project_id,
        parent_doc_id=doc.parent_doc_id,
        title=doc.title,
        icon=doc.icon,
        position=doc.position,
        is_archived=doc.is_archived,
        version=doc.version,
        size=doc.size,
        created_by_id=doc.created_by_id,
        updated_by_id=doc.updated_by_id,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
        blocks=EditorJs(blocks=doc.blocks),
    )


def version_read(version: DocVersion) -> DocVersionRead:
    return DocVersionRead(
        number=version.number,
        title=version.title,
        size=version.size,
        restored_from=version.restored_from,
        author_id=version.author_id,
        created_at=version.created_at,
        blocks=EditorJs(blocks=version.blocks),
        markdown=to_markdown(version.blocks),
    )


def doc_json(found: DocBody) -> bytes:
    """``DocRead`` as JSON: the summary rendered, the stored blocks spliced in as they are (a
    20 KB doc's blocks are neither decoded nor encoded again on the way out)."""
    head = dumps(found.summary)
    return head[:-1] + b',"blocks":{"blocks":' + found.blocks_json.encode() + b"}}"


def doc_markdown(found: DocBody) -> str:
    return to_markdown(orjson.loads(found.blocks_json))


def _document(title: str, blocks: list[dict[str, Any]]) -> str:
    """What a diff compares: the title as a heading, then the content as markdown."""
    return f"# {plain_markdown(title)}\n\n{to_markdown(blocks)}"


def _content(data: DocContent) -> list[dict[str, Any]] | None:
    """The blocks sent (validated by the schema) or read from the markdown sent; None: neither."""
    sent = data.model_fields_set
    if "blocks" in sent and "markdown" in sent:
        raise ValidationFailed(errors={"markdown": ["Send blocks or markdown, not both"]})
    if isinstance(data.blocks, dict):  # the schema has normalized it: {"blocks": [...]}
        blocks: list[dict[str, Any]] = data.blocks["blocks"]
        return blocks
    if data.markdown is not None:
        try:
            return from_markdown(data.markdown)
        except ContentError as exc:
            raise ValidationFailed(errors={"markdown": [str(exc)]}) from None
    return None


def _descendants(tree: dict[uuid.UUID, uuid.UUID | None], root: uuid.UUID) -> list[uuid.UUID]:
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for doc_id, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(doc_id)
    found, stack = [], list(children.get(root, []))
    while stack:
        doc_id = stack.pop()
        found.append(doc_id)
        stack.extend(children.get(doc_id, []))
    return found


def _bad_parent(message: str) -> ValidationFailed:
    return ValidationFailed(errors={"parent_doc_id": [message]})
