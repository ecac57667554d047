"""Statements over the record: the audit log's filtered pages and the changes feed."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Select, and_, bindparam, exists, or_, select, true

from projekt.api_keys.models import ApiKey
from projekt.audit.feeds import DECLARED
from projekt.auth.models import User
from projekt.core.fastsql import FastSQL
from projekt.core.feed import Build, Joined, among, uuid_text
from projekt.core.record import Event, EventCounter
from projekt.oauth.models import OAuthClient
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

# What only admins and owners manage, so only they read its changes.
ADMIN_ONLY = ("invitation", "webhook")

# -- the changes feed: statements compiled once, run on the fast path (``core.fastsql``) ----------

P = bindparam
_FEED_COLUMNS = (Event.seq, Event.type, Event.resource_type, Event.resource_id)


def _events(everything: bool) -> Select[int, str, str, uuid.UUID]:
    """Oldest first: ``:limit`` events above seq ``:after`` that ``:user_id`` may read.

    ``everything``: admins and owners, who read every project and key. Everyone else reads
    no invitation or webhook (``ADMIN_ONLY``), only their own keys, and only events of
    projects they can see now (a deleted project's events included: who could see it is no
    longer known).
    """
    stmt = select(*_FEED_COLUMNS).where(Event.org_id == P("org_id"), Event.seq > P("after"))
    if not everything:
        user_id: Any = P("user_id")
        project_visible = exists().where(
            Project.id == Event.project_id,
            Project.org_id == Event.org_id,
            visible_to(user_id),
        )
        own_key = exists().where(ApiKey.id == Event.resource_id, ApiKey.user_id == user_id)
        stmt = stmt.where(
            or_(Event.project_id.is_(None), project_visible),
            # Not ``not_in``: an IN list compiles to a post-compile parameter, not once.
            *[Event.resource_type != kind for kind in ADMIN_ONLY],
            or_(Event.resource_type != "api_key", and_(own_key)),
        )
    return stmt.order_by(Event.seq).limit(P("limit"))


def _feed_page(everything: bool, joined: Sequence[Joined]) -> Select[Any]:
    """PostgreSQL's page of events, each joined to its resource's row when its type is joined
    (``core.feed``): one statement for the page and every joined type's representations.

    Each joined type is a LEFT JOIN LATERAL looking up the event's resource when the event is of
    its type, so an event of another type, or whose resource is gone or hidden from the caller,
    reads NULLs there. The ``LIMIT 1`` keeps PostgreSQL from flattening the subquery: the type
    test then stays a one-time filter, and only events of the type look their row up (flattened,
    it became a join filter applied after probing every type's table for every event). The
    columns: the event's four, then each joined type's, UUIDs as text (``uuid_text``).

    Each lookup also names the event's ``seq`` (``> 0``: always true). Without it PostgreSQL put
    a Memoize node in front of every lookup, a cache by (type, id) that a page of distinct
    resources never hits: the plan cost 1.19 ms a page instead of 0.98 (a page's own
    statement, prepared, here). With a key unique to each event the cache could never hit,
    and the planner leaves it out."""
    page = _events(everything).subquery("page")
    columns: list[Any] = [page.c.seq, page.c.type, page.c.resource_type]
    columns.append(uuid_text(page.c.resource_id).label("resource_id"))
    source: Any = page
    for n, declared in enumerate(joined):
        first = next(iter(declared.rows.selected_columns))
        of_type = page.c.resource_type == declared.resource_type
        one = declared.rows.where(of_type, first == page.c.resource_id, page.c.seq > 0).limit(1)
        rows = one.lateral(f"joined_{n}")
        source = source.outerjoin(rows, true())
        columns += [uuid_text(c).label(f"j{n}_{c.key}") for c in rows.c]
    return select(*columns).select_from(source).order_by(page.c.seq)


def _by_ids(declared: Joined) -> Select[Any]:
    """SQLite's read of one joined type for a page: its rows among ``:ids``. SQLite has no
    LATERAL, and it materializes a subquery that is a join on the right of a LEFT JOIN (every
    row of the org's issues, every comment, for each page), so there the page is read alone and
    each joined type after it, as the batched readers are."""
    rows = declared.rows.subquery()
    return select(*[uuid_text(c).label(c.key) for c in rows.c]).where(among(rows.c.id))


FEED_PAGE = {everything: _feed_page(everything, DECLARED.joined) for everything in (True, False)}
_ID_TEXT = uuid_text(Event.resource_id).label("resource_id")
EVENTS_PAGE = {  # SQLite's page: the events alone (``_by_ids``)
    everything: _events(everything).with_only_columns(*_FEED_COLUMNS[:3], _ID_TEXT)
    for everything in (True, False)
}
BY_IDS = {declared.resource_type: _by_ids(declared) for declared in DECLARED.joined}
LAST_SEQ = select(EventCounter.seq).where(EventCounter.org_id == P("org_id"))
# Where each joined type's columns sit in a row of FEED_PAGE, and what builds them.
_SPOTS: dict[str, tuple[int, int, Build]] = {}
_at = len(_FEED_COLUMNS)
for _declared in DECLARED.joined:
    _width = len(_declared.rows.selected_columns)
    _SPOTS[_declared.resource_type] = (_at, _at + _width, _declared.build)
    _at += _width


# An event of the feed's page: ``(seq, type, resource_type, resource_id, resource, read)``. For a
# joined type ``read`` is true and ``resource`` is what the caller reads of it now (``None``:
# gone or hidden); for the other types their batched readers have yet to answer. A plain tuple:
# a page makes a hundred of them.
Change = tuple[int, str, str, str, Mapping[str, Any] | None, bool]


class RecordReads:
    """Reads of one org's record on the fast path (no session)."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID) -> None:
        self.fast = fast
        self.org_id = org_id

    async def last_seq(self) -> int:
        """The org's last number (0: nothing recorded yet)."""
        row = await self.fast.fetchrow(LAST_SEQ, {"org_id": self.org_id})
        return int(row["seq"]) if row is not None else 0


class FeedReads(RecordReads):
    """The changes feed's reads of the record, for one caller."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        super().__init__(fast, org_id)
        self.user_id = user_id

    async def page(self, after: int, limit: int, everything: bool) -> list[Change]:
        """Events after ``after``, oldest first; ``everything`` (admins) or what the member's
        projects and credentials let them see. Joined types come with their resources."""
        params = {"org_id": self.org_id, "user_id": self.user_id, "after": after, "limit": limit}
        if not self.fast.postgres:
            return await self._page_apart(params, everything)
        # On PostgreSQL the rows are asyncpg's records, read by position (a slice is a tuple).
        rows: list[Any] = await self.fast.fetch(FEED_PAGE[everything], params)
        spots, changes = _SPOTS, list[Change]()
        for row in rows:
            seq, kind, resource_type, resource_id = row[:4]
            spot = spots.get(resource_type)
            if spot is None:
                changes.append((seq, kind, resource_type, resource_id, None, False))
            else:
                start, stop, build = spot
                resource = None if row[start] is None else build(row[start:stop])
                changes.append((seq, kind, resource_type, resource_id, resource, True))
        return changes

    async def _page_apart(self, params: dict[str, Any], everything: bool) -> list[Change]:
        """SQLite: the page, then one read per joined type on it (``_by_ids``)."""
        events = await self.fast.fetch(EVENTS_PAGE[everything], params)
        wanted: dict[str, dict[str, None]] = {}
        for event in events:
            if event["resource_type"] in BY_IDS:
                wanted.setdefault(event["resource_type"], {})[event["resource_id"]] = None
        found: dict[str, dict[str, Mapping[str, Any]]] = {}
        for kind, ids in wanted.items():
            scope = {**params, "ids": [uuid.UUID(i) for i in ids]}
            build = _SPOTS[kind][2]
            rows = await self.fast.fetch(BY_IDS[kind], scope)
            found[kind] = {row["id"]: build(tuple(row.values())) for row in rows}
        changes = list[Change]()
        for event in events:
            seq, kind, resource_type, resource_id = event.values()
            if resource_type in BY_IDS:
                resource = found.get(resource_type, {}).get(resource_id)
                changes.append((seq, kind, resource_type, resource_id, resource, True))
            else:
                changes.append((seq, kind, resource_type, resource_id, None, False))
        return changes


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor_id: uuid.UUID | None = None
    credential_id: uuid.UUID | None = None
    credential_kind: str | None = None
    resource_type: str | None = None
    resource_id: uuid.UUID | None = None
    type: str | None = None
    project_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    # Each filter but the period's bounds, and the column it must equal.
    COLUMNS: ClassVar[dict[str, Any]] = {
        "actor_id": Event.actor_user_id,
        "credential_id": Event.credential_id,
        "credential_kind": Event.credential_kind,
        "resource_type": Event.resource_type,
        "resource_id": Event.resource_id,
        "type": Event.type,
        "project_id": Event.project_id,
    }

    def sent(self) -> dict[str, Any]:
        """The filters given, by name, in a fixed order."""
        found = {name: getattr(self, name) for name in self.COLUMNS}
        found.update(since=self.since, until=self.until)
        return {name: value for name, value in found.items() if value is not None}


# -- the audit log: one statement per set of filters, on the fast path -----------------------------

# An audit entry's columns: the event's, the names of its person, key and OAuth client (joined:
# no statement of their own), and the org's last number (a cursor past it is refused).
_ENTRY = (
    uuid_text(Event.id).label("id"),
    Event.seq,
    Event.occurred_at,
    Event.type,
    Event.resource_type,
    uuid_text(Event.resource_id).label("resource_id"),
    uuid_text(Event.project_id).label("project_id"),
    uuid_text(Event.actor_user_id).label("actor_user_id"),
    Event.credential_kind,
    uuid_text(Event.credential_id).label("credential_id"),
    Event.oauth_client_id,
    Event.request_id,
    Event.changes,
    User.name.label("user_name"),
    ApiKey.name.label("key_name"),
    ApiKey.last_four,
    OAuthClient.client_name,
    LAST_SEQ.scalar_subquery().label("last_seq"),
)
AuditRow = tuple[Any, ...]  # ``_ENTRY``'s values, in order


@functools.lru_cache(maxsize=256)
def audit_statement(active: tuple[str, ...]) -> Select[Any]:
    """Newest first, ``:limit`` events of the org matching the filters named in ``active``
    (``AuditFilters``' fields, bound as ``f_<name>``, and ``before``: below seq ``:before``),
    built once per set. A key is named only for a PAT's events (``credential_id`` is then the
    key's id) and only if it is the org's."""
    key_joined = and_(
        ApiKey.id == Event.credential_id,
        Event.credential_kind == "pat",
        ApiKey.org_id == Event.org_id,
    )
    stmt = (
        select(*_ENTRY)
        .select_from(Event)
        .outerjoin(User, User.id == Event.actor_user_id)
        .outerjoin(ApiKey, key_joined)
        .outerjoin(OAuthClient, OAuthClient.client_id == Event.oauth_client_id)
        .where(Event.org_id == P("org_id"))
    )
    for name in active:
        if name == "before":
            stmt = stmt.where(Event.seq < P("before"))
        elif name == "since":
            stmt = stmt.where(Event.occurred_at >= P("f_since", type_=Event.occurred_at.type))
        elif name == "until":
            stmt = stmt.where(Event.occurred_at < P("f_until", type_=Event.occurred_at.type))
        else:
            column = AuditFilters.COLUMNS[name]
            stmt = stmt.where(column == P(f"f_{name}", type_=column.type))
    return stmt.order_by(Event.seq.desc()).limit(P("limit"))


class AuditReads(RecordReads):
    """The audit log's reads of the record."""

    async def page(
        self, filters: AuditFilters, before: int | None, limit: int
    ) -> tuple[list[AuditRow], int | None]:
        """Up to ``limit`` entries below seq ``before``, newest first, and the org's last
        number (None when the page is empty: ``last_seq`` reads it then)."""
        sent = filters.sent()
        params: dict[str, Any] = {"org_id": self.org_id, "limit": limit}
        params.update({f"f_{name}": value for name, value in sent.items()})
        active = tuple(sent)
        if before is not None:
            active += ("before",)
            params["before"] = before
        rows = await self.fast.fetch(audit_statement(active), params)
        if not rows:
            return [], None
        found = [tuple(row.values()) for row in rows]
        return found, found[0][-1] or 0
