"""How a domain declares what the changes feed (API.md §10) shows of its resources.

A domain's ``feed.py`` holds one ``Feed`` (as its ``tools.py`` holds one ``Tools``) and declares,
with one decorator per resource type it records, a **batched reader**: given the ids of that
type on a page of the feed, it answers their current representations in one statement (or a
constant few, never one per id), keyed by id. An id it does not answer is gone, or hidden from
the caller, and the feed shows a tombstone for it.

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

from sqlalchemy import Boolean, ColumnElement, any_, bindparam
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


@dataclass(frozen=True, slots=True)
class Reader:
    resource_type: str
    read: ReadMany


@dataclass
class Feed:
    """One domain's feed readers."""

    readers: list[Reader] = field(default_factory=list)

    def reader(self, resource_type: str) -> Callable[[ReadMany], ReadMany]:
        """Declare the batched reader of ``resource_type`` (the events' ``resource_type``)."""

        def register(read: ReadMany) -> ReadMany:
            self.readers.append(Reader(resource_type, read))
            return read

        return register


def collect(feeds: Sequence[Feed]) -> dict[str, ReadMany]:
    """Every declared reader by resource type; two declarations of one type are a mistake."""
    found: dict[str, ReadMany] = {}
    for feed in feeds:
        for reader in feed.readers:
            if reader.resource_type in found:
                raise ValueError(f"two feed readers for {reader.resource_type!r}")
            found[reader.resource_type] = reader.read
    return found


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
