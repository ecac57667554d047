"""Webhook endpoints (API.md §10): subscriptions, secrets, the delivery log, redelivery and
replay. Delivery itself is ``webhooks.delivery``; both read the record, nothing is copied."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.pagination import ListQuery
from projekt.core.record import changes, record, snapshot
from projekt.projects.errors import ProjectNotFound
from projekt.projects.service import ProjectService
from projekt.webhooks.errors import DeliveryNotFound, WebhookNotFound, invalid
from projekt.webhooks.events import subscribed, unknown_events
from projekt.webhooks.models import Webhook
from projekt.webhooks.payloads import event_body, ping_body
from projekt.webhooks.repository import DeliveryRepository, WebhookRepository
from projekt.webhooks.schemas import (
    DeliveryRead,
    ReplayQueued,
    ReplayRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)
from projekt.webhooks.signing import SecretBox, new_secret
from projekt.webhooks.targets import TargetRefused, resolve

# What a webhook's events compare (never its secret).
RECORDED = ("url", "events", "project_id", "description", "active")
ROTATION_OVERLAP = timedelta(hours=24)


def webhook_etag(webhook_id: uuid.UUID, revision: int) -> str:
    return version_etag("webhook", webhook_id, revision)


def delivery_etag(delivery: DeliveryRead) -> str:
    return version_etag("webhook_delivery", delivery.id, delivery.status, delivery.attempts)


class WebhookService:
    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        self.session = session
        self.services = services
        self.ctx = ctx
        self.webhooks = WebhookRepository(session, ctx.org_id)
        self.log = DeliveryRepository(session, ctx.org_id)

    # -- endpoints -----------------------------------------------------------------------------

    async def listing(self) -> list[tuple[WebhookRead, int]]:
        return [self._read(hook) for hook in await self.webhooks.listing()]

    async def get(self, webhook_id: uuid.UUID) -> tuple[WebhookRead, int]:
        hook = await self.webhooks.get(webhook_id)
        if hook is None:
            raise WebhookNotFound()
        return self._read(hook)

    async def create(self, data: WebhookCreate) -> tuple[WebhookCreated, int]:
        await self._check_events(data.events)
        await self._check_project(data.project_id)
        await self._check_url(data.url)
        now = self.services.clock.now()
        secret = new_secret()
        hook_id = uuid.uuid4()
        hook = Webhook(
            id=hook_id,
            org_id=self.ctx.org_id,
            project_id=data.project_id,
            url=data.url,
            events=list(dict.fromkeys(data.events)),
            description=data.description,
            active=data.active,
            secret_sealed=self._box().seal(secret, hook_id),
            # Deliveries start with the next event: a new endpoint is not sent the past
            # (POST …/replay sends it on request).
            cursor_seq=await self.webhooks.last_seq(),
            next_position=1,
            created_by_id=self.ctx.user_id,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        await self.webhooks.add(hook)
        self._record("webhook.created", hook, changes(None, snapshot(hook, RECORDED)))
        read, revision = self._read(hook)
        return WebhookCreated(**read.model_dump(), secret=secret), revision

    async def update(
        self, webhook_id: uuid.UUID, data: WebhookUpdate, if_match: IfMatch
    ) -> tuple[WebhookRead, int]:
        sent = data.model_dump(exclude_unset=True)
        if "events" in sent:
            await self._check_events(sent["events"])
            sent["events"] = list(dict.fromkeys(sent["events"]))
        if sent.get("project_id") is not None:
            await self._check_project(sent["project_id"])
        if "url" in sent:
            await self._check_url(sent["url"])
        hook = await self._locked(webhook_id, if_match)
        before = snapshot(hook, RECORDED)
        resumed = sent.get("active") is True and not hook.active
        for field, value in sent.items():
            setattr(hook, field, value)
        diff = changes(before, snapshot(hook, RECORDED), RECORDED)
        if not diff:
            return self._read(hook)
        now = self.services.clock.now()
        if resumed:
            # A resume starts afresh: the reason and the failing streak go, and the queue
            # (events recorded while it was paused included) is looked at at once.
            if hook.disabled_reason:
                diff["disabled_reason"] = [hook.disabled_reason, None]
            hook.disabled_reason = None
            hook.disabled_at = None
            hook.failing_since = None
            hook.next_run_at = now
        hook.revision += 1
        hook.updated_at = now
        await self.session.flush()
        self._record("webhook.updated", hook, diff)
        return self._read(hook)

    async def delete(self, webhook_id: uuid.UUID, if_match: IfMatch) -> None:
        hook = await self._locked(webhook_id, if_match, deleting=True)
        last = changes(snapshot(hook, RECORDED), None)
        await self.webhooks.delete(hook)  # its deliveries go with it
        self._record("webhook.deleted", hook, last)

    async def rotate_secret(
        self, webhook_id: uuid.UUID, if_match: IfMatch
    ) -> tuple[WebhookCreated, int]:
        """A new secret; the current one keeps signing beside it for 24 h (a rotation within
        that window drops the oldest)."""
        hook = await self._locked(webhook_id, if_match)
        now = self.services.clock.now()
        secret = new_secret()
        hook.previous_secret_sealed = hook.secret_sealed
        hook.previous_secret_expires_at = now + ROTATION_OVERLAP
        hook.secret_sealed = self._box().seal(secret, hook.id)
        hook.secret_rotated_at = now
        hook.revision += 1
        hook.updated_at = now
        await self.session.flush()
        expiry = hook.previous_secret_expires_at.isoformat()
        self._record("webhook.secret_rotated", hook,
                     {"previous_secret_expires_at": [None, expiry]})  # fmt: skip
        read, revision = self._read(hook)
        return WebhookCreated(**read.model_dump(), secret=secret), revision

    # -- deliveries ----------------------------------------------------------------------------

    async def deliveries(
        self, webhook_id: uuid.UUID, listed: ListQuery, status: str | None
    ) -> tuple[list[DeliveryRead], int]:
        await self.get(webhook_id)
        rows, total = await self.log.page(
            webhook_id, status, listed.sort, listed.limit, listed.offset
        )
        return [DeliveryRead.model_validate(row) for row in rows], total

    async def delivery(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRead:
        await self.get(webhook_id)
        found = await self.log.one(webhook_id, delivery_id)
        if found is None:
            raise DeliveryNotFound()
        return DeliveryRead.model_validate(found)

    async def ping(self, webhook_id: uuid.UUID) -> DeliveryRead:
        """Queue a ``webhook.ping`` (sent in its turn, after what is already queued)."""
        hook = await self._locked(webhook_id, IfMatch())
        now = self.services.clock.now()
        ping_id = uuid.uuid4()
        body = ping_body(ping_id, hook.org_id, hook.id, hook.url, now)
        [delivery] = await self._queue(hook, [(ping_id, None, "webhook.ping", body)], "ping", now)
        return delivery

    async def redeliver(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRead:
        """Queue the delivery's event again: same ``webhook-id``, same body."""
        hook = await self._locked(webhook_id, IfMatch())
        original = await self.log.one(webhook_id, delivery_id)
        if original is None:
            raise DeliveryNotFound()
        now = self.services.clock.now()
        item = (original.event_id, original.event_seq, original.event_type, original.payload)
        [delivery] = await self._queue(hook, [item], "redelivery", now)
        return delivery

    async def replay(
        self, webhook_id: uuid.UUID, data: ReplayRequest, if_match: IfMatch
    ) -> ReplayQueued:
        """Queue again every event the endpoint subscribes to from ``since`` on, oldest first
        (events not yet queued are delivered anyway, in their turn)."""
        hook = await self._locked(webhook_id, if_match)
        limit = self.services.settings.webhook_replay_max
        found = await self.webhooks.events_since(data.since, hook.cursor_seq, limit + 1)
        if len(found) > limit:
            raise invalid("since", f"More than {limit} events since then: choose a later time")
        items = [
            (event.id, event.seq, event.type, event_body(event))
            for event in found
            if subscribed(hook.events, event.type)
            and (hook.project_id is None or event.project_id == hook.project_id)
        ]
        queued = await self._queue(hook, items, "replay", self.services.clock.now())
        return ReplayQueued(queued=len(queued))

    async def _queue(
        self,
        hook: Webhook,
        items: Sequence[tuple[uuid.UUID, int | None, str, str]],
        kind: str,
        now: datetime,
    ) -> list[DeliveryRead]:
        """Deliveries at the end of the endpoint's queue (its row is locked: positions are
        handed out one writer at a time, as the deliverer does)."""
        rows: list[dict[str, Any]] = []
        for event_id, seq, event_type, payload in items:
            rows.append(
                {"id": uuid.uuid4(), "org_id": hook.org_id, "webhook_id": hook.id,
                 "position": hook.next_position + len(rows), "event_id": event_id,
                 "event_seq": seq, "event_type": event_type, "kind": kind, "payload": payload,
                 "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                 "last_attempt_at": None, "response_status": None, "response_time_ms": None,
                 "last_error": None, "completed_at": None}
            )  # fmt: skip
        if not rows:
            return []
        await self.log.add_all(rows)
        hook.next_position += len(rows)
        if hook.next_run_at is None or hook.next_run_at > now:
            hook.next_run_at = now
        await self.session.flush()
        return [DeliveryRead.model_validate(row) for row in rows]

    # -- checks --------------------------------------------------------------------------------

    async def _locked(
        self, webhook_id: uuid.UUID, if_match: IfMatch, *, deleting: bool = False
    ) -> Webhook:
        hook = await self.webhooks.get_for_update(webhook_id, deleting=deleting)
        if hook is None:
            raise WebhookNotFound()
        if_match.check(webhook_etag(hook.id, hook.revision))
        return hook

    async def _check_events(self, events: list[str]) -> None:
        bad = unknown_events(events)
        if bad:
            raise invalid("events", f"Unknown event types: {', '.join(sorted(set(bad)))}")

    async def _check_project(self, project_id: uuid.UUID | None) -> None:
        if project_id is None:
            return
        try:
            await ProjectService(self.session, self.services).get_visible(self.ctx, project_id)
        except ProjectNotFound:
            raise invalid("project_id", "The project_id names no project of this org") from None

    async def _check_url(self, url: str) -> None:
        settings = self.services.settings
        try:
            await resolve(
                url,
                require_https=settings.base_url.startswith("https://"),
                allow_private=settings.webhook_allow_private_targets,
            )
        except TargetRefused as exc:
            raise invalid("url", str(exc)) from None

    def _box(self) -> SecretBox:
        return SecretBox.from_settings(self.services.settings)

    def _record(self, kind: str, hook: Webhook, diff: dict[str, Any]) -> None:
        record(self.session, self.ctx, kind, hook.id, project_id=hook.project_id, changes=diff)

    def _read(self, hook: Webhook) -> tuple[WebhookRead, int]:
        return WebhookRead.model_validate(hook), hook.revision
