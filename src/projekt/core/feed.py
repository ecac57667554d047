"""How a domain declares what the changes feed (API.md §10) shows of its resources.

A domain's ``feed.py`` holds one ``Feed`` (as its ``tools.py`` holds one ``Tools``) and declares,
with one decorator per resource type it records, a **batched reader**: given the ids of that
type on a page of the feed, it answers their current representations in one statement (or a
constant few, never one per id), keyed by id. An id it does not answer is gone, or hidden from
the caller, and the feed shows a tombstone for it.

A resource type whose rows one statement reads (with the project it hangs from) declares them
instead with ``@feed.join("issue", ROWS)``: ``ROWS`` selects every row of the type the caller
may read, its ``id`` first, and the decorated function builds the representation from those
columns, in order. The feed joins them to its page of events, so a page of such types is one
statement, and each representation is built straight from the page's row. Their UUIDs arrive
as text (``uuid_text``): orjson writes a ``str`` itself, where asyncpg's UUIDs go through
``dumps``' Python fallback one by one.

A reader answers only what the caller may read (``Read.ctx``): it applies the same rules as the
REST ``GET`` of the resource (``projects.visibility.visible_to`` for anything in a project, the
role for what only admins see), and the same shape: a representation is JSON-ready for
``core.responses.dumps`` (UUIDs, dates and UTC datetimes may stay native; orjson writes them
as the schemas do) and equals the body of that ``GET``.

Like a repository, a ``feed.py`` may read other domains' tables to join them (a project's
visibility, a milestone's issue counts); it never writes. ``audit`` collects the declarations
(``audit/feeds.py``, as ``mcp/server.py`` collects the tools): core knows no domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, String, Uuid, any_, bindparam, cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from projekt.core.context import OrgContext
from projekt.core.deps import AppServices

Representations = Mapping[uuid.UUID, Mapping[str, Any]]


class Read:
    """What a reader runs with: the app's services, the caller's org context, and a read-only
    session opened only if a reader asks for one (readers on ``services.fast`` never pay for
    it); whoever made the ``Read`` closes it."""

    __slots__ = ("_session", "ctx", "services")

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.services.db.new_session(write=False)
        return self._session

    @property
    def scope(self) -> dict[str, Any]:
        """The bind parameters every precompiled reader statement takes: the org and the
        caller (for ``visible_to``)."""
        return {"org_id": self.ctx.org_id, "user_id": self.ctx.user_id}

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


ReadMany = Callable[[Read, Sequence[uuid.UUID]], Awaitable[Representations]]
# A joined type's representation from its columns (``Joined.rows``'), in order.
Build = Callable[[Sequence[Any]], Mapping[str, Any]]
Rows = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Reader:
    resource_type: str
    read: ReadMany


@dataclass(frozen=True, slots=True)
class Joined:
    """A resource type read with the page of events: ``rows`` are the type's rows the caller may
    read (binds ``:org_id`` and ``:user_id``, ``id`` first), ``build`` their representation."""

    resource_type: str
    rows: Rows
    build: Build


@dataclass
class Feed:
    """One domain's feed readers."""

    readers: list[Reader] = field(default_factory=list)
    joined: list[Joined] = field(default_factory=list)

    def reader(self, resource_type: str) -> Callable[[ReadMany], ReadMany]:
        """Declare the batched reader of ``resource_type`` (the events' ``resource_type``)."""

        def register(read: ReadMany) -> ReadMany:
            self.readers.append(Reader(resource_type, read))
            return read

        return register

    def join(self, resource_type: str, rows: Rows) -> Callable[[Build], Build]:
        """Declare ``resource_type`` read with the page: ``rows``, and the decorated builder."""
        first = next(iter(rows.selected_columns))
        if first.key != "id":
            raise ValueError(f"the joined rows of {resource_type!r} must select their id first")

        def register(build: Build) -> Build:
            self.joined.append(Joined(resource_type, rows, build))
            return build

        return register


@dataclass(frozen=True, slots=True)
class Declarations:
    """Every domain's declarations: the joined types, and the batched readers of the rest."""

    joined: tuple[Joined, ...]
    readers: dict[str, ReadMany]


def collect(feeds: Sequence[Feed]) -> Declarations:
    """Every declaration by resource type; two declarations of one type are a mistake."""
    readers: dict[str, ReadMany] = {}
    joined: dict[str, Joined] = {}
    for feed in feeds:
        declared: list[tuple[str, Reader | Joined]] = [(r.resource_type, r) for r in feed.readers]
        declared += [(j.resource_type, j) for j in feed.joined]
        for kind, declaration in declared:
            if kind in readers or kind in joined:
                raise ValueError(f"two feed readers for {kind!r}")
            if isinstance(declaration, Joined):
                joined[kind] = declaration
            else:
                readers[kind] = declaration.read
    return Declarations(tuple(joined.values()), readers)


class Among(ColumnElement[bool]):
    """``column`` is one of the list parameter ``name``: ``= ANY($n)`` with an array on
    PostgreSQL, so a statement compiled once (``FastSQL``) takes any number of ids; an expanding
    ``IN`` elsewhere (FastSQL hands those statements to the engine on SQLite)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(Among)
def _among(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    clause = element.column.in_(bindparam(element.name, expanding=True))
    return compiler.process(clause, **kw)


@compiles(Among, "postgresql")
def _among_pg(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    param = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(param), **kw)


def among(column: Any, name: str = "ids") -> ColumnElement[bool]:
    return Among(column, name)


class UuidText(ColumnElement[str]):
    """A UUID column read as its canonical text: ``CAST(… AS TEXT)`` on PostgreSQL (asyncpg
    then hands back a ``str``), the column itself elsewhere, where the type's result processor
    (``Uuid(as_uuid=False)``) makes the same text of the stored value."""

    inherit_cache = True
    type = Uuid(as_uuid=False)
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column


@compiles(UuidText)
def _uuid_text(element: UuidText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(UuidText, "postgresql")
def _uuid_text_pg(element: UuidText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(cast(element.column, String), **kw)


def uuid_text(column: Any) -> ColumnElement[Any]:
    """``column`` as JSON-ready text when it is a UUID column, else as it is."""
    return UuidText(column) if isinstance(column.type, Uuid) else column
