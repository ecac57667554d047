"""The record (API.md §9): one append-only table of events, written by the transaction owners.

Services say what changed with ``record(session, ctx, "issue.updated", …)``: a *draft* kept on
the unit of work's session. The unit of work's owner writes the drafts just before it commits
(``Database.commit`` runs ``Recorder.write`` as a ``before_commit`` hook), so an event exists
exactly when its write does: a rollback, a failed commit or a dry run leaves none. The issue
create, which has no session, writes its one event itself: in the same statement as the issue
(``numbered_event``, a plain create on PostgreSQL) or as its fast transaction's last
statement (``append_one``).

Ordering. Each org's events are numbered by ``seq``, strictly increasing *in commit order*: the
number is taken from the org's row in ``event_counters`` (an upsert that adds the number of
events and returns the new total), as the very last statement before the commit, and the row
stays locked until that commit. Two writers of one org therefore get their numbers one after
the other and commit in that order; a writer that rolls back gives its numbers back (the
counter's update rolls back with it), so there are no gaps either. A reader that has seen seq N
committed can never later see a committed event with seq ≤ N appear: whatever took a smaller
number had committed before N was handed out. On PostgreSQL the row lock does this (and
the fast path folds the upsert and the INSERT into one statement); on SQLite every writing
transaction holds the database's single write lock anyway (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    BigInteger,
    ForeignKey,
    FromClause,
    Index,
    Insert,
    PrimaryKeyConstraint,
    String,
    bindparam,
    cast,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.clock import Clock
from projekt.core.context import CredentialKind, OrgContext, Principal
from projekt.core.db import Base, JSONList, UTCDateTime, new_id
from projekt.core.fastsql import FastTransaction, prefixed

HAS_PARENT = text("parent_id IS NOT NULL")


class Event(Base):
    """One change to one resource. Never updated; deleted only with its org."""

    __tablename__ = "events"
    __table_args__ = (
        # Every reader pages an org's events by seq; nothing looks an event up by its id.
        PrimaryKeyConstraint("org_id", "seq"),
        # One resource's history (an issue's activity), and what hangs off it (its comments:
        # only events with a parent have an entry, so an issue's create writes none).
        Index("ix_events_org_id_resource_id_seq", "org_id", "resource_id", "seq"),
        Index(
            "ix_events_org_id_parent_id_seq",
            "org_id",
            "parent_id",
            "seq",
            postgresql_where=HAS_PARENT,
            sqlite_where=HAS_PARENT,
        ),
        # The audit log by person, newest first (the rest of its filters ride on (org, seq)).
        Index("ix_events_org_id_actor_user_id_seq", "org_id", "actor_user_id", "seq"),
    )

    # The event's public id (webhook-id, the audit log's id): random, never an index key.
    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    # No foreign keys to what the events name: the record outlives the resources it mentions.
    resource_id: Mapped[uuid.UUID] = mapped_column()
    # The resource whose history also shows this event: a comment's issue.
    parent_id: Mapped[uuid.UUID | None] = mapped_column()
    project_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column()
    credential_kind: Mapped[str] = mapped_column(String(16))
    credential_id: Mapped[uuid.UUID | None] = mapped_column()
    oauth_client_id: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # {field: [before, after]}, JSON values (ids and dates as strings).
    changes: Mapped[dict[str, Any]] = mapped_column(JSONList)


class EventCounter(Base):
    """The last ``seq`` handed out per org; its row is the lock that orders commits."""

    __tablename__ = "event_counters"

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, and through what."""

    user_id: uuid.UUID | None
    credential_kind: CredentialKind
    credential_id: uuid.UUID | None = None
    oauth_client_id: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, principal: Principal, request_id: str | None) -> Actor:
        return cls(
            principal.user_id,
            principal.kind,
            principal.credential_id,
            principal.oauth_client_id,
            request_id,
        )

    @classmethod
    def of_context(cls, ctx: OrgContext) -> Actor:
        return cls.of(ctx.principal, ctx.request_id)


# Changes made by the server itself (the cli, jobs).
SYSTEM = Actor(None, CredentialKind.SYSTEM)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before it has its number and time (given when it is written)."""

    org_id: uuid.UUID
    type: str
    resource_type: str
    resource_id: uuid.UUID
    project_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    changes: dict[str, Any]
    actor: Actor

    def row(self, seq: int, occurred_at: datetime) -> dict[str, Any]:
        actor = self.actor
        return {
            "id": uuid.uuid4(),
            "org_id": self.org_id,
            "seq": seq,
            "occurred_at": occurred_at,
            "type": self.type,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "parent_id": self.parent_id,
            "project_id": self.project_id,
            "actor_user_id": actor.user_id,
            "credential_kind": actor.credential_kind.value,
            "credential_id": actor.credential_id,
            "oauth_client_id": actor.oauth_client_id,
            "request_id": actor.request_id,
            "changes": self.changes,
        }


PENDING = "projekt_record_pending"


def draft(
    ctx: OrgContext | tuple[uuid.UUID, Actor],
    type: str,
    resource_id: uuid.UUID,
    *,
    project_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    changes: Mapping[str, Any] | None = None,
    resource_type: str | None = None,
) -> Draft:
    """An event of ``type`` ("issue.updated") about one resource; the resource type is the
    type's prefix unless given. ``ctx``: the org context, or (org id, actor) outside one."""
    if isinstance(ctx, OrgContext):
        org_id, actor = ctx.org_id, Actor.of_context(ctx)
    else:
        org_id, actor = ctx
    return Draft(
        org_id=org_id,
        type=type,
        resource_type=resource_type or type.split(".", 1)[0],
        resource_id=resource_id,
        project_id=project_id,
        parent_id=parent_id,
        changes=dict(changes or {}),
        actor=actor,
    )


def record(
    session: AsyncSession,
    ctx: OrgContext | tuple[uuid.UUID, Actor],
    type: str,
    resource_id: uuid.UUID,
    *,
    project_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    changes: Mapping[str, Any] | None = None,
    resource_type: str | None = None,
) -> None:
    """Append an event to the unit of work; it is written when (and only if) it commits.

    Call it after the write it describes has succeeded, and outside a savepoint that may yet
    roll back (a draft is not undone with the savepoint)."""
    event = draft(
        ctx,
        type,
        resource_id,
        project_id=project_id,
        parent_id=parent_id,
        changes=changes,
        resource_type=resource_type,
    )
    session.info.setdefault(PENDING, []).append(event)


# -- changes ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A value as the record keeps it: ids and dates as strings, lists copied."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fields: Iterable[str] | None = None,
) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for each field whose value differs. ``before`` None: a
    creation (fields with no value are left out); ``after`` None: a deletion."""
    old = before or {}
    new = after or {}
    names = list(fields) if fields is not None else list(dict.fromkeys([*old, *new]))
    diff: dict[str, list[Any]] = {}
    for name in names:
        was, now = jsonable(old.get(name)), jsonable(new.get(name))
        if was == now or (before is None and now in (None, [])):
            continue
        if after is None and was in (None, []):
            continue
        diff[name] = [was, now]
    return diff


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """An object's fields as a mapping (what ``changes`` compares)."""
    return {name: getattr(obj, name) for name in fields}


# -- writing ------------------------------------------------------------------------------------

EVENTS = Event.__table__


def _allocate(dialect: Any) -> Any:
    """Add :n to the org's counter (creating it) and return the new last number."""
    stmt = dialect.insert(EventCounter).values(org_id=bindparam("org_id"), seq=bindparam("n"))
    return stmt.on_conflict_do_update(
        index_elements=[EventCounter.org_id],
        set_={"seq": EventCounter.seq + stmt.excluded.seq},
    ).returning(EventCounter.seq)


ALLOCATE = {"postgresql": _allocate(postgresql), "sqlite": _allocate(sqlite)}
INSERT_EVENT = insert(Event).values(
    {c.name: bindparam(f"v_{c.name}", type_=c.type) for c in EVENTS.columns}
)


class Numbered(NamedTuple):
    """One event numbered and inserted within a statement (PostgreSQL: data-modifying CTEs, all
    at the statement's top level): the counter's upsert and the event's INSERT."""

    counter: CTE
    insert: Insert


def numbered_event(
    prefix: str = "v_", *, after: FromClause | None = None, more_changes: Any = None
) -> Numbered:
    """The event of a statement's write, its values bound as ``{prefix}{column}``.

    ``after``: the rows that statement wrote (a CTE); no row there, no event and no number
    taken. ``more_changes``: a jsonb expression over them, merged into the bound changes (a
    value only the statement itself knows, such as a default it picked)."""
    counter = postgresql.insert(EventCounter)
    if after is None:
        counter = counter.values(org_id=bindparam(f"{prefix}org_id"), seq=1)
    else:
        org_id = bindparam(f"{prefix}org_id", type_=EventCounter.__table__.c.org_id.type)
        one = select(org_id, literal_column("1"))
        counter = counter.from_select(["org_id", "seq"], one.select_from(after))
    allocated = (
        counter.on_conflict_do_update(
            index_elements=[EventCounter.org_id],
            set_={"seq": EventCounter.seq + 1},
        )
        .returning(EventCounter.seq)
        .cte("allocated")
    )
    changes: Any = bindparam(f"{prefix}changes", type_=EVENTS.c.changes.type)
    if more_changes is not None:
        changes = cast(changes, JSONB).op("||", return_type=JSONB)(more_changes)
    values = [
        allocated.c.seq
        if c.name == "seq"
        else changes
        if c.name == "changes"
        else bindparam(f"{prefix}{c.name}", type_=c.type)
        for c in EVENTS.columns
    ]
    numbered = select(*values).select_from(allocated)
    if after is not None:
        numbered = numbered.select_from(after)
    names = [c.name for c in EVENTS.columns]
    return Numbered(allocated, insert(Event).from_select(names, numbered))


def _append_one_pg() -> Any:
    """Number and insert one event in one statement."""
    counter, event = numbered_event()
    return event.add_cte(counter)


APPEND_ONE_PG = _append_one_pg()


async def append_one(tx: FastTransaction, event: Draft, occurred_at: datetime) -> None:
    """Write one event in a fast-path transaction, as its last statement (it takes the org's
    counter lock, held until that transaction ends)."""
    if tx.fast.postgres:
        await tx.fetch(APPEND_ONE_PG, prefixed(event.row(0, occurred_at)))
        return
    allocated = await tx.fetchrow(ALLOCATE["sqlite"], {"org_id": event.org_id, "n": 1})
    assert allocated is not None
    await tx.fetch(INSERT_EVENT, prefixed(event.row(allocated["seq"], occurred_at)))


class Recorder:
    """Writes a unit of work's drafts just before it commits (``Database.before_commit``)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def write(self, session: AsyncSession) -> None:
        drafts: list[Draft] | None = session.info.pop(PENDING, None)
        if not drafts:
            return
        await session.flush()  # the writes first: the counter's lock is taken last
        occurred_at = self.clock.now()
        allocate = ALLOCATE[session.get_bind().dialect.name]
        by_org: dict[uuid.UUID, list[Draft]] = {}
        for event in drafts:
            by_org.setdefault(event.org_id, []).append(event)
        # Orgs in one order, should a unit of work ever touch two: no two writers deadlock.
        for org_id in sorted(by_org, key=str):
            events = by_org[org_id]
            last = (
                await session.execute(allocate, {"org_id": org_id, "n": len(events)})
            ).scalar_one()
            first = last - len(events) + 1
            rows = [e.row(first + n, occurred_at) for n, e in enumerate(events)]
            await session.execute(insert(Event), rows)
