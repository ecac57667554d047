"""Token lookups kept in the worker, dropped the moment any credential changes anywhere.

Every request with a PAT or an OAuth token would otherwise read its credential row (a statement
and a round trip). Workers keep the rows they have read, valid while the *credential epoch*, one
Redis key, keeps its value. The rate limiter's script reads that key in the round trip it makes
anyway, so checking the cache costs nothing extra; any commit that changes keys, tokens,
memberships, users or orgs moves the epoch before its response is sent, and every worker's next
request sees the new value and reads the database again. Revocation stays instant.

What is cached is the row of a credential that was admitted, not the verdict: expiry, the role
and the bound org are checked again on every request. Sessions are not cached (a browser is not
the hot path, and idle expiry moves with every visit). Without Redis there is no shared epoch,
so nothing is cached.

A request whose limiter call failed saw no epoch: it cannot use or keep a cached row, and the
cache serves no row until a request sees the epoch again, but one slow call does not empty it.
When Redis is down (the limiter's circuit breaker opens) the cache is emptied: changes made
meanwhile cannot move the epoch.

Ordering: a row is good only if the epoch the limiter reads after the row was taken (from the
cache or the database) is the one the worker knew before taking it. A change that committed in
between moved the epoch: a cached row is then read again from the database, a fresh one is not
kept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

logger = logging.getLogger("projekt.auth")

# A change to a row of these can change what a token may do (or whether it works at all).
CREDENTIAL_TABLES = frozenset({"api_keys", "oauth_tokens", "memberships", "users", "orgs"})
CHANGED = "credentials_changed"  # the Session.info flag set by the listeners below


class CredentialCache:
    # Entries also expire on their own: a bound on staleness if a change could not reach Redis.
    MAX_AGE_S = 30.0
    MAX_ENTRIES = 10_000

    def __init__(self, redis: Redis, epoch_key: str) -> None:
        self._redis = redis
        self.epoch_key = epoch_key
        self.epoch: str | None = None  # the last value the limiter reported
        self._rows: dict[str, tuple[dict[str, Any], float]] = {}
        # The last limiter call saw no epoch: serve and take no row until one sees it again.
        self._unconfirmed = False

    @property
    def size(self) -> int:
        return len(self._rows)

    def get(self, token_hash: str) -> dict[str, Any] | None:
        if self._unconfirmed:
            return None
        found = self._rows.get(token_hash)
        if found is None or time.monotonic() - found[1] > self.MAX_AGE_S:
            return None
        return found[0]

    def observe(self, epoch: str | None) -> None:
        """Take the epoch the limiter just read: if it moved, every row goes. None (this call
        could not reach Redis) confirms nothing but keeps the rows for the next request."""
        if epoch is None:
            self._unconfirmed = True
            return
        self._unconfirmed = False
        if epoch != self.epoch:
            self._rows.clear()
            self.epoch = epoch

    def forget(self) -> None:
        """Every row goes, and none is kept until the epoch is read again (Redis is down)."""
        self._rows.clear()
        self.epoch = None

    def current(self, seen: str | None) -> bool:
        """Whether rows read while the epoch was ``seen`` still hold (after ``observe``)."""
        return not self._unconfirmed and seen is not None and seen == self.epoch

    def put(self, token_hash: str, row: dict[str, Any], seen: str | None) -> None:
        """Keep a row read while the epoch was ``seen`` (not kept if it has moved since)."""
        if not self.current(seen):
            return
        if len(self._rows) >= self.MAX_ENTRIES:
            self._rows.clear()
        self._rows[token_hash] = (row, time.monotonic())

    async def changed(self) -> None:
        """Called after a commit that touched a credential table: every worker forgets."""
        self._rows.clear()
        self.epoch = None
        try:
            await self._redis.incr(self.epoch_key)
        except Exception as exc:
            # Other workers keep their rows until MAX_AGE_S at most; this one has none left.
            logger.error("credential cache: the epoch could not be moved (%s)", exc)


def mark_credential_changes() -> None:
    """Flag ORM sessions that write to a credential table, whether by flushing objects or by
    an UPDATE/DELETE statement. The unit of work reads the flag after its commit."""
    if event.contains(Session, "after_flush", _flushed):
        return
    event.listen(Session, "after_flush", _flushed)
    event.listen(Session, "do_orm_execute", _executed)


def _flushed(session: Session, _flush: UOWTransaction) -> None:
    # New rows count too: a membership given back must not stay refused by a cached row.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if getattr(obj, "__tablename__", None) in CREDENTIAL_TABLES:
            session.info[CHANGED] = True
            return


def _executed(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in CREDENTIAL_TABLES:
        state.session.info[CHANGED] = True
