"""The deliverers: each endpoint's queue, sent one delivery at a time, in order.

How it runs (docs/webhooks.md, "Delivery"):

1. **Claim.** A worker leases endpoints that have work due (events past their cursor, or a
   delivery due) and no live lease: ``SELECT … FOR UPDATE SKIP LOCKED`` then a lease until
   ``now + webhook_lease_s`` (SQLite: its single write lock serializes the claims). One
   endpoint is held by one worker at a time, so its deliveries never go out concurrently.
2. **Queue.** With nothing pending, the worker reads the org's record after the endpoint's
   cursor, in ``seq`` order, and in one transaction inserts a delivery per matching event (in
   that order, by ``position``) and moves the cursor. ``seq`` commits in order (core.record),
   so no event is skipped; the cursor moves with the rows, so none is queued twice.
3. **Send.** The first pending delivery by ``position`` is sent when due, outside any
   transaction; its result is written (and the lease renewed) in the transaction that also
   picks the next one. A worker killed in between leaves the delivery pending: after the lease
   runs out another worker sends it again, with the same ``webhook-id`` (at least once).
4. **Retry.** Every answer but a 2xx (timeouts and connection errors too) is retried after
   about 30 s, 2 m, 10 m, 1 h, 4 h, 12 h and 24 h (±10 % jitter; ``Retry-After`` is honoured
   as a minimum). Later deliveries wait behind a retrying one (order is kept).
   Three days of nothing but failures disable the endpoint, with the reason.

Time comes from the app's clock (tests move it). Requests never wait for any of this: it runs
on its own tasks and its own short transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from projekt.core.deps import AppServices
from projekt.core.record import SYSTEM, record
from projekt.webhooks.events import subscribed
from projekt.webhooks.payloads import event_body
from projekt.webhooks.repository import CLAIM_AT_ONCE, DUE_IDS, DeliveryQueue, Due, Held
from projekt.webhooks.sender import KeepAliveSender, Sender, SendFailed
from projekt.webhooks.signing import SecretBox, signatures
from projekt.webhooks.targets import TargetRefused, resolve

log = logging.getLogger("projekt.webhooks")

RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
USER_AGENT = "Projekt-Webhooks/1.0"
# Deliveries picked per turn (sent one at a time): a worker killed mid-turn sends them again.
# A turn costs ~8 database round trips; 100 sends share them (32 did not: docs/decisions.md).
SEND_AHEAD = 100
# Retention: finished deliveries are deleted in batches of this many rows (a short transaction
# each), at most PRUNE_ROUNDS batches a pass, a pass every PRUNE_EVERY (sooner while behind).
PRUNE_BATCH = 500
PRUNE_ROUNDS = 20
PRUNE_EVERY = timedelta(minutes=10)
# Batches of the record read per turn of an endpoint that has nothing to send meanwhile.
MAX_QUEUE_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result; a failed one is retried while attempts remain."""

    ok: bool
    status: int | None = None
    elapsed_ms: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None


def retry_delay(attempts: int, rng: random.Random) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based), with jitter."""
    base = RETRY_DELAYS[attempts - 1]
    return base * (1 + rng.uniform(-JITTER, JITTER))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta()), MAX_RETRY_AFTER)


def worker_name() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Deliverer:
    """Delivers every org's webhooks from one process; ``run`` in a task, or ``tick`` in tests."""

    def __init__(
        self,
        services: AppServices,
        *,
        owner: str | None = None,
        sender: Sender | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.owner = owner or worker_name()
        self.box = SecretBox.from_settings(self.settings)
        self.rng = rng or random.Random()
        timeout = self.settings.webhook_timeout_s
        self.sender: Sender = sender or KeepAliveSender(
            connect_timeout=min(5.0, timeout),
            max_idle=self.settings.webhook_concurrency * 2,
        )
        self.lease_s = self.settings.webhook_lease_s
        self.lease = timedelta(seconds=self.lease_s)
        self.next_prune_at: datetime | None = None
        # Set by a turn cut short with deliveries still due: ``run`` looks again at once.
        self.behind = False
        # Endpoints that caught up, and when ``run`` may claim them again (time.monotonic()).
        self.resting: dict[uuid.UUID, float] = {}

    # -- driving -------------------------------------------------------------------------------

    async def tick(self) -> int:
        """Claim what is due, serve it, and return how much was done (0: nothing was due)."""
        await self.prune_when_due()
        self.resting.clear()  # tests drive turns by hand: nothing rests between them
        ids = await self._claim(self.settings.webhook_concurrency)
        if not ids:
            return 0
        done = await asyncio.gather(*(self.serve(i) for i in ids))
        return len(ids) + sum(done)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve endpoints until ``stop`` is set: up to ``webhook_concurrency`` at once, each
        on its own task. Looks for work every ``webhook_poll_s``, and at once while a backlog
        remains (a look that filled every free slot, or a turn cut short with more due).

        An endpoint that has caught up rests: this worker does not claim it again for
        ``webhook_poll_s``. Under a steady trickle of events its next turn then carries a
        poll's worth of them instead of one or two (and a project's endpoint, due again on
        every event of its org, is not served once per event): a turn's round trips are what
        delivery costs (the bench's "create while delivering"). The latency this adds is at
        most ``webhook_poll_s``, as for an idle endpoint."""
        running: set[asyncio.Task[int]] = set()
        stopping = asyncio.create_task(stop.wait())
        poll_s = self.settings.webhook_poll_s
        next_look = time.monotonic()
        if self.next_prune_at is None:
            # Not at start-up: workers started together would all prune at once, and a
            # starting server has better things to do.
            delay = timedelta(seconds=self.rng.uniform(10, 60))
            self.next_prune_at = self.services.clock.now() + delay
        try:
            while not stop.is_set():
                free = self.settings.webhook_concurrency - len(running)
                if free > 0 and (self.behind or time.monotonic() >= next_look):
                    self.behind = False
                    next_look = time.monotonic() + poll_s
                    claimed: list[uuid.UUID] = []
                    try:
                        await self.prune_when_due()
                    except Exception as exc:  # the database is away: pruning can wait
                        log.warning("webhook delivery pruning failed: %s", type(exc).__name__)
                    rested = time.monotonic()
                    self.resting = {k: t for k, t in self.resting.items() if t > rested}
                    try:
                        claimed = await self._claim(free, skip=self.resting.keys())
                    except Exception as exc:  # the database is away: wait, then look again
                        log.warning("webhook claim failed: %s", type(exc).__name__)
                    for webhook_id in claimed:
                        running.add(asyncio.create_task(self.serve(webhook_id)))
                    # Every free slot taken: more may be due as soon as one is free again.
                    self.behind = len(claimed) == free
                waiting: set[asyncio.Future[Any]] = {stopping, *running}
                full = len(running) >= self.settings.webhook_concurrency
                finished, _ = await asyncio.wait(
                    waiting,
                    # Full: until a slot frees. Else until the next look (or a slot frees).
                    timeout=poll_s if full else max(next_look - time.monotonic(), 0.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in finished - {stopping}:
                    running.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        log.warning("webhook delivery failed: %s", type(task.exception()).__name__)
        finally:
            stopping.cancel()
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(Exception):
                async with self.services.db.session() as session:
                    await DeliveryQueue(session).release_all(self.owner)

    async def prune_when_due(self) -> int:
        """Delete finished deliveries older than the retention, in bounded batches, when a
        pass is due (every ``PRUNE_EVERY``, at once again while it is behind); the count."""
        days = self.settings.webhook_delivery_retention_days
        now = self.services.clock.now()
        if days is None or (self.next_prune_at is not None and now < self.next_prune_at):
            return 0
        before = now - timedelta(days=days)
        pruned = 0
        for _ in range(PRUNE_ROUNDS):
            async with self.services.db.session() as session:
                deleted = await DeliveryQueue(session).prune_finished(before, PRUNE_BATCH)
            pruned += deleted
            if deleted < PRUNE_BATCH:
                self.next_prune_at = now + PRUNE_EVERY
                return pruned
            await asyncio.sleep(0)  # let the other tasks (requests, in `serve`) run between
        self.next_prune_at = now  # behind: the next look goes on
        return pruned

    async def close(self) -> None:
        await self.sender.aclose()

    async def _claim(self, limit: int, skip: Collection[uuid.UUID] = ()) -> list[uuid.UUID]:
        now = self.services.clock.now()
        if self.services.fast.postgres:
            # One statement on the fast path: an idle look (every ``webhook_poll_s`` in every
            # worker) is one round trip, not a session's BEGIN, ping, SELECT and COMMIT.
            params = {"now": now, "until": now + self.lease, "owner": self.owner,
                      "limit": limit, "skip": list(skip)}  # fmt: skip
            return [row["id"] for row in await self.services.fast.write(CLAIM_AT_ONCE, params)]
        # SQLite: an idle look only reads (the database has one write lock), on the fast
        # path's reader; enough rows that one is due beyond those resting, if any is.
        due = await self.services.fast.fetch(DUE_IDS, {"now": now, "limit": len(skip) + 1})
        if all(row["id"] in skip for row in due):
            return []
        async with self.services.db.session() as session:
            queue = DeliveryQueue(session)
            return await queue.claim(self.owner, now, now + self.lease, limit, skip)

    # -- one endpoint --------------------------------------------------------------------------

    async def serve(self, webhook_id: uuid.UUID) -> int:
        """Send the endpoint's due deliveries in order, up to ``webhook_batch`` attempts, then
        let it go; returns the attempts made.

        Each turn is one short transaction (renew the lease, write the last sends' results,
        queue events, pick the next due deliveries) and then up to ``SEND_AHEAD`` sends, one
        at a time, stopping at the first failure (what follows waits for its retry). A worker
        killed during a turn leaves that turn's deliveries pending: they are sent again."""
        attempts = 0
        sent: list[tuple[Due, Outcome, datetime]] = []
        rounds = 0
        read_to_end = False
        while True:
            now = self.services.clock.now()
            async with self.services.db.session() as session:
                queue = DeliveryQueue(session)
                held = await queue.hold(webhook_id, self.owner, now + self.lease)
                disabled = await self._write_outcomes(session, queue, webhook_id, held, sent)
                sent = []
                if held is None or disabled:  # paused, deleted, or the lease was lost
                    await queue.let_go(webhook_id, self.owner)
                    return attempts
                pending, due = await self._pick(queue, webhook_id, now)
                # Queue the record's next events, also behind a delivery that waits for its
                # retry (else the endpoint would be claimed again and again for them), in this
                # transaction: a look that finds nothing costs no turn of its own. Not after a
                # turn that read the record to its end: what was recorded since then waits for
                # the next look (``run``), so that a steady trickle of events is sent in
                # batches, not a turn per event or two.
                queued_rows = 0
                while (
                    not due
                    and not read_to_end
                    and rounds < MAX_QUEUE_ROUNDS
                    and queued_rows < SEND_AHEAD
                ):
                    held, queued, read_to_end = await self._enqueue(queue, held, now)
                    queued_rows += queued
                    rounds += 1
                    if queued:
                        pending, due = await self._pick(queue, webhook_id, now)
                if not due or attempts >= self.settings.webhook_batch:
                    # Nothing due: wake up at the head's retry time, or at once if cut short.
                    head = pending[0] if pending else None
                    later = None if head is None else max(head.next_attempt_at or now, now)
                    await queue.release(webhook_id, self.owner, later)
                    if due:  # cut short: more is due at once
                        self.behind = True
                    else:
                        self.resting[webhook_id] = time.monotonic() + self.settings.webhook_poll_s
                    return attempts
                secrets = self._secrets(held, now)
            held_at = time.monotonic()
            for item in due:
                # Never send past the lease: another worker could then take the endpoint.
                elapsed = time.monotonic() - held_at
                if elapsed + self.settings.webhook_timeout_s > self.lease_s * 0.9 and sent:
                    break
                if attempts >= self.settings.webhook_batch:
                    break
                outcome = await self.attempt(held, item, secrets)
                sent.append((item, outcome, self.services.clock.now()))
                attempts += 1
                if not outcome.ok:
                    break

    async def _pick(self, queue: DeliveryQueue, webhook_id: uuid.UUID, now: datetime
                    ) -> tuple[list[Due], list[Due]]:  # fmt: skip
        """The head of the endpoint's queue, and its part that is due now (in order, up to the
        first that waits for its retry)."""
        pending = await queue.pending(webhook_id, SEND_AHEAD)
        due = []
        for item in pending:
            if (item.next_attempt_at or now) > now:
                break
            due.append(item)
        return pending, due

    async def _enqueue(
        self, queue: DeliveryQueue, held: Held, now: datetime
    ) -> tuple[Held, int, bool]:
        """Queue the record's next events for the endpoint: the endpoint as it now stands, the
        deliveries queued, and whether the record was read to its end."""
        limit = self.settings.webhook_batch
        events, cursor = await queue.events_after(
            held.org_id, held.cursor_seq, limit, held.project_id
        )
        if cursor == held.cursor_seq:  # nothing past the cursor
            return held, 0, True
        rows = []
        position = held.next_position
        for event in events:
            if not subscribed(held.events, event.type):
                continue
            if held.project_id is not None and event.project_id != held.project_id:
                continue
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "org_id": held.org_id,
                    "webhook_id": held.id,
                    "position": position,
                    "event_id": event.id,
                    "event_seq": event.seq,
                    "event_type": event.type,
                    "kind": "event",
                    "payload": event_body(event),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
            position += 1
        await queue.enqueue(held.id, rows, cursor, position)
        moved = dataclasses.replace(held, cursor_seq=cursor, next_position=position)
        return moved, len(rows), len(events) < limit

    def _secrets(self, held: Held, now: datetime) -> list[str]:
        live = [self.box.open(held.secret_sealed, held.id)]
        expires = held.previous_secret_expires_at
        if held.previous_secret_sealed and expires is not None and expires > now:
            live.append(self.box.open(held.previous_secret_sealed, held.id))
        return live

    async def attempt(self, held: Held, head: Due, secrets: list[str]) -> Outcome:
        """One POST of the delivery, to the address the guard has just checked."""
        settings = self.settings
        try:
            target = await resolve(
                held.url,
                require_https=settings.base_url.startswith("https://"),
                allow_private=settings.webhook_allow_private_targets,
            )
        except TargetRefused as exc:  # DNS may point elsewhere later: retried
            return Outcome(False, error=str(exc))
        now = self.services.clock.now()
        timestamp = int(now.timestamp())
        body = head.payload.encode()
        message_id = str(head.event_id)
        headers = [
            ("host", target.host_header),
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            ("webhook-id", message_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", signatures(secrets, message_id, timestamp, body)),
            ("x-projekt-event", head.event_type),
        ]
        started = time.monotonic()
        try:
            async with asyncio.timeout(settings.webhook_timeout_s):
                reply = await self.sender.post(held.id, target, target.path, headers, body)
        except TimeoutError:
            elapsed = int((time.monotonic() - started) * 1000)
            limit = settings.webhook_timeout_s
            return Outcome(False, elapsed_ms=elapsed, error=f"No answer within {limit:g} s")
        except SendFailed as exc:
            elapsed = int((time.monotonic() - started) * 1000)
            return Outcome(False, elapsed_ms=elapsed, error=str(exc))
        elapsed = int((time.monotonic() - started) * 1000)
        status = reply.status
        if 200 <= status < 300:
            return Outcome(True, status, elapsed)
        # Anything else is retried on the schedule (API.md §10, as Standard Webhooks senders
        # do): a receiver's 404 or 401 is as often a deploy in progress as a final word.
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += ": redirects are not followed"
        wait = parse_retry_after(reply.retry_after, now)
        return Outcome(False, status, elapsed, error, wait)

    async def _write_outcomes(
        self,
        session: Any,
        queue: DeliveryQueue,
        webhook_id: uuid.UUID,
        held: Held | None,
        sent: list[tuple[Due, Outcome, datetime]],
    ) -> bool:
        """Write the results of a turn's sends; True when they disabled the endpoint."""
        if not sent:
            return False
        rows = []
        since = held.failing_since if held is not None else None
        last_error: str | None = None
        for due, outcome, at in sent:
            attempts = due.attempts + 1
            row: dict[str, Any] = {
                "id": due.id,
                "attempts": attempts,
                "last_attempt_at": at,
                "response_status": outcome.status,
                "response_time_ms": outcome.elapsed_ms,
                "last_error": outcome.error[:500] if outcome.error else None,
                "status": "failed",
                "next_attempt_at": None,
                "completed_at": at,
            }
            if outcome.ok:
                row.update(status="succeeded")
                since = None
            else:
                last_error = row["last_error"]
                since = since or at
                if attempts < MAX_ATTEMPTS:
                    wait = retry_delay(attempts, self.rng)
                    if outcome.retry_after is not None:
                        wait = max(wait, outcome.retry_after)
                    row.update(status="pending", next_attempt_at=at + wait, completed_at=None)
            rows.append(row)
        await queue.finish_all(rows)
        if held is None:
            return False
        at = sent[-1][2]
        limit = timedelta(hours=self.settings.webhook_disable_after_hours)
        if since is None or at - since < limit:
            if since != held.failing_since:
                await queue.mark_endpoint(webhook_id, {"failing_since": since})
            return False
        reason = (
            f"Disabled by the server: every delivery failed for {limit.total_seconds() / 3600:g} "
            f"hours (last: {last_error}). Set active to true to resume."
        )
        await queue.revision_bump(
            webhook_id,
            {"active": False, "disabled_reason": reason, "disabled_at": at,
             "failing_since": since, "updated_at": at},
        )  # fmt: skip
        record(session, (held.org_id, SYSTEM), "webhook.disabled", webhook_id,
               project_id=held.project_id,
               changes={"active": [True, False], "disabled_reason": [None, reason]})  # fmt: skip
        return True
