"""Every statement on webhooks and their deliveries, and the reads of the record they send.

``WebhookRepository`` and ``DeliveryRepository`` serve the API in one org; ``DeliveryQueue``
serves the deliverers, which work across orgs (each claimed endpoint names its org).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Uuid, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.pagination import SortKeys, order_by
from projekt.core.record import Event, EventCounter
from projekt.core.repository import OrgScopedRepository, Repository
from projekt.projects.models import Project
from projekt.webhooks.models import Webhook, WebhookDelivery

DELIVERY_SORTS = {
    "created_at": WebhookDelivery.created_at,
    "position": WebhookDelivery.position,
    "status": WebhookDelivery.status,
    "attempts": WebhookDelivery.attempts,
    "next_attempt_at": WebhookDelivery.next_attempt_at,
}


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event of the record, with the project it names (for the payload)."""

    id: uuid.UUID
    org_id: uuid.UUID
    seq: int
    occurred_at: datetime
    type: str
    resource_type: str
    resource_id: uuid.UUID
    parent_id: uuid.UUID | None
    project_id: uuid.UUID | None
    project_key: str | None
    project_name: str | None
    actor_user_id: uuid.UUID | None
    credential_kind: str
    changes: dict[str, Any]


def _events() -> Any:
    return select(
        Event.id, Event.org_id, Event.seq, Event.occurred_at, Event.type, Event.resource_type,
        Event.resource_id, Event.parent_id, Event.project_id, Project.key.label("project_key"),
        Project.name.label("project_name"), Event.actor_user_id, Event.credential_kind,
        Event.changes,
    ).outerjoin(Project, Project.id == Event.project_id)  # fmt: skip


def _recorded(row: Row[Any]) -> RecordedEvent:
    return RecordedEvent(*row)  # type: ignore[call-arg]  # _events()'s columns, in order


async def last_seq(session: AsyncSession, org_id: uuid.UUID) -> int:
    """The org's last committed seq (0 before its first event)."""
    found = await session.scalar(select(EventCounter.seq).where(EventCounter.org_id == org_id))
    return int(found or 0)


class WebhookRepository(OrgScopedRepository[Webhook]):
    model = Webhook

    async def listing(self) -> list[Webhook]:
        stmt = self.select().order_by(Webhook.created_at, Webhook.id)
        return list((await self.session.execute(stmt)).scalars())

    async def delete(self, webhook: Webhook) -> None:
        await self.session.delete(webhook)
        await self.session.flush()

    async def last_seq(self) -> int:
        return await last_seq(self.session, self.org_id)

    async def events_since(
        self, since: datetime, up_to_seq: int, limit: int
    ) -> list[RecordedEvent]:
        """The org's events from ``since`` up to ``up_to_seq``, oldest first (replays)."""
        stmt = (
            _events()
            .where(
                Event.org_id == self.org_id,
                Event.occurred_at >= since,
                Event.seq <= up_to_seq,
            )
            .order_by(Event.seq)
            .limit(limit)
        )
        return [_recorded(row) for row in (await self.session.execute(stmt)).all()]


class DeliveryRepository(OrgScopedRepository[WebhookDelivery]):
    model = WebhookDelivery

    async def page(
        self,
        webhook_id: uuid.UUID,
        status: str | None,
        sort: SortKeys,
        limit: int,
        offset: int,
    ) -> tuple[list[WebhookDelivery], int]:
        stmt = self.select().where(WebhookDelivery.webhook_id == webhook_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.execute(
            stmt.order_by(*order_by(sort, DELIVERY_SORTS), WebhookDelivery.position)
            .limit(limit)
            .offset(offset)
        )
        return list(rows.scalars()), int(total or 0)

    async def one(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        stmt = self.select().where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.id == delivery_id
        )
        found: WebhookDelivery | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def add_all(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(WebhookDelivery), rows)


# -- the deliverers' queue ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    """A claimed endpoint, as a send needs it."""

    id: uuid.UUID
    org_id: uuid.UUID
    project_id: uuid.UUID | None
    url: str
    events: list[str]
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    cursor_seq: int
    next_position: int
    failing_since: datetime | None


@dataclass(frozen=True, slots=True)
class Due:
    """The delivery at the head of an endpoint's queue."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    payload: str
    attempts: int
    next_attempt_at: datetime | None


HELD_COLUMNS = (
    Webhook.id, Webhook.org_id, Webhook.project_id, Webhook.url, Webhook.events,
    Webhook.secret_sealed, Webhook.previous_secret_sealed, Webhook.previous_secret_expires_at,
    Webhook.cursor_seq, Webhook.next_position, Webhook.failing_since,
)  # fmt: skip


_NOW = bindparam("now", type_=Webhook.__table__.c.lease_until.type)


def _due(now: Any = _NOW) -> Any:
    """Active endpoints with work due (events past their cursor, or a delivery due) and no
    live lease; ``now`` is bound as ``now`` unless given."""
    counter = (
        select(EventCounter.seq).where(EventCounter.org_id == Webhook.org_id).scalar_subquery()
    )
    return select(Webhook.id).where(
        Webhook.active.is_(True),
        or_(Webhook.lease_until.is_(None), Webhook.lease_until < now),
        or_(Webhook.next_run_at <= now, Webhook.cursor_seq < func.coalesce(counter, 0)),
    )


def _claim_at_once() -> Any:
    """A claim in one statement (PostgreSQL): lease up to ``limit`` endpoints that are due,
    but those in ``skip`` (an array) and those another worker's claim has locked, and return
    their ids."""
    picked = (
        _due()
        .where(Webhook.id != func.all(bindparam("skip", type_=ARRAY(Uuid()))))
        .order_by(Webhook.next_run_at, Webhook.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Webhook)
        .where(Webhook.id.in_(picked.scalar_subquery()))
        .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
        .returning(Webhook.id)
    )


CLAIM_AT_ONCE = _claim_at_once()
# SQLite's look before a claim: up to ``limit`` due endpoints, read without the write lock.
DUE_IDS = _due().limit(bindparam("limit"))


class DeliveryQueue(Repository[WebhookDelivery]):
    """The statements of the deliverers (``webhooks.delivery``), across orgs."""

    model = WebhookDelivery

    async def claim(
        self,
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
        skip: Collection[uuid.UUID] = (),
    ) -> list[uuid.UUID]:
        """Lease up to ``limit`` active endpoints that have work due and no live lease: events
        past their cursor, or a delivery due (``skip``: endpoints this worker rests). The claim
        on SQLite, whose write lock (``BEGIN IMMEDIATE``) serializes the workers' claims; on
        PostgreSQL a claim is ``CLAIM_AT_ONCE`` on the fast path."""
        due = _due(now)
        candidates = (
            (due.where(Webhook.id.not_in(list(skip))) if skip else due)
            .order_by(Webhook.next_run_at, Webhook.id)
            .limit(limit)
        )
        ids = list((await self.session.execute(candidates)).scalars())
        if ids:
            await self.session.execute(
                update(Webhook)
                .where(Webhook.id.in_(ids))
                .values(lease_owner=owner, lease_until=until)
            )
        return ids

    async def hold(self, webhook_id: uuid.UUID, owner: str, until: datetime) -> Held | None:
        """Renew the lease and lock the endpoint's row for this transaction; None when the
        lease was lost (expired and taken) or the endpoint was paused or deleted."""
        stmt = (
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.lease_owner == owner, Webhook.active.is_(True))
            .values(lease_until=until)
            .returning(*HELD_COLUMNS)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else Held(**row._asdict())

    async def release(
        self, webhook_id: uuid.UUID, owner: str, next_run_at: datetime | None
    ) -> None:
        await self.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, next_run_at=next_run_at)
        )

    async def let_go(self, webhook_id: uuid.UUID, owner: str) -> None:
        """Drop this worker's lease of a paused or deleted endpoint (a resume is then served at
        once, not after the lease runs out); nothing when another worker holds it."""
        await self.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def release_all(self, owner: str) -> None:
        """Give back every endpoint this worker holds (it is stopping)."""
        await self.session.execute(
            update(Webhook)
            .where(Webhook.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def pending(self, webhook_id: uuid.UUID, limit: int) -> list[Due]:
        """The first pending deliveries of the endpoint's queue, in order."""
        stmt = (
            select(
                WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.event_type,
                WebhookDelivery.payload, WebhookDelivery.attempts,
                WebhookDelivery.next_attempt_at,
            )
            .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
            .order_by(WebhookDelivery.position)
            .limit(limit)
        )  # fmt: skip
        return [Due(*row) for row in (await self.session.execute(stmt)).all()]

    async def events_after(
        self, org_id: uuid.UUID, seq: int, limit: int, project_id: uuid.UUID | None = None
    ) -> tuple[list[RecordedEvent], int]:
        """The org's events after ``seq`` (only the project's, for a project's endpoint), oldest
        first, and the seq the endpoint's cursor may move to: the last one read, or, when the
        project's events ran out, the org's last committed seq (events commit in seq order, so
        every event up to it is visible; the ones in between are other projects')."""
        stmt = _events().where(Event.org_id == org_id, Event.seq > seq)
        top = None
        if project_id is not None:
            top = await last_seq(self.session, org_id)
            if top <= seq:
                return [], seq
            stmt = stmt.where(Event.seq <= top, Event.project_id == project_id)
        rows = (await self.session.execute(stmt.order_by(Event.seq).limit(limit))).all()
        events = [_recorded(row) for row in rows]
        if top is not None and len(events) < limit:
            return events, top
        return events, events[-1].seq if events else seq

    async def enqueue(
        self, webhook_id: uuid.UUID, rows: list[dict[str, Any]], cursor_seq: int, next_position: int
    ) -> None:
        """Queue deliveries and move the endpoint's cursor, in one transaction: an event is
        queued exactly once however often a worker dies between two steps."""
        if rows:
            await self.session.execute(insert(WebhookDelivery), rows)
        await self.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(cursor_seq=cursor_seq, next_position=next_position)
        )

    async def finish_all(self, rows: list[dict[str, Any]]) -> None:
        """Write attempts' results (each row names its delivery by ``id``), in one statement."""
        if rows:
            await self.session.execute(update(WebhookDelivery), rows)

    async def prune_finished(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that finished before ``before``; the count deleted.
        Workers pruning side by side skip each other's rows (PostgreSQL)."""
        batch = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.completed_at < before,
                WebhookDelivery.status.in_(("succeeded", "failed")),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self.session.execute(batch)).scalars())
        if ids:
            await self.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        return len(ids)

    async def mark_endpoint(self, webhook_id: uuid.UUID, values: Mapping[str, Any]) -> None:
        await self.session.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))

    async def revision_bump(self, webhook_id: uuid.UUID, values: Mapping[str, Any]) -> None:
        await self.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(revision=Webhook.revision + 1, **values)
        )
