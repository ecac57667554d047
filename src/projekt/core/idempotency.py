"""Where ``Idempotency-Key`` answers live: a table (the embedded default) or Redis.

A key is claimed atomically before its request runs (a unique primary key with ``ON CONFLICT DO
NOTHING``; a Lua ``GET``/``SET`` on Redis) and the claim is a lease: a worker that dies mid-
request blocks its key only until the lease ends. The finished answer then replaces the claim
and lives ``idempotency_ttl_hours``. Both stores are shared by every worker and host, and both
judge expiry by the app's clock (so tests move time instead of sleeping); rows past their time
count as absent and are swept a few hundred at a time as new keys arrive.

Nothing stored names the key: the record's id is a digest of (user, org, key), and the answer
is sealed with AES-GCM under a second digest of the same, which the store never holds. A
minted API key's token in a stored answer is therefore as safe as the caller's own key choice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import (
    Delete,
    Executable,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from projekt.core.db import SQLITE_BEGIN, Base, Database, UTCDateTime
from projekt.core.errors import IdempotencyUnavailable, ServiceUnavailable
from projekt.core.redis_script import PipelinedScript, close_script, script_for

logger = logging.getLogger("projekt.idempotency")
# Expired rows removed per sweep; a sweep runs on one claim in SWEEP_EVERY of a worker.
SWEEP_BATCH = 500
SWEEP_EVERY = 64


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # sha256 of (user, org, key): the key itself is never stored.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Who holds the lease while the first request runs; null once it answered.
    claim: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


TABLE = cast(Table, IdempotencyKey.__table__)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One request's identity in the store, and the means to open its stored answer."""

    id: str
    fingerprint: str
    secret: bytes  # AES-256 key of the stored answer

    @classmethod
    def of(cls, scope: bytes, key: bytes, request: bytes) -> Sealed:
        """``scope``: who and where (user, org); ``request``: method, path, query and body."""
        secret = hashlib.sha256(b"projekt-idempotency-answer\0" + scope + b"\0" + key).digest()
        record = hashlib.sha256(b"projekt-idempotency-id\0" + scope + b"\0" + key).hexdigest()
        fingerprint = hashlib.sha256(secret + request).hexdigest()
        return cls(record, fingerprint, secret)

    def seal(self, answer: Answer) -> bytes:
        head = orjson.dumps(
            {"h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in answer.headers]}
        )
        nonce = os.urandom(12)
        return nonce + AESGCM(self.secret).encrypt(
            nonce, head + b"\n" + answer.body, self.id.encode()
        )

    def open(self, status: int, sealed: bytes) -> Answer:
        plain = AESGCM(self.secret).decrypt(sealed[:12], sealed[12:], self.id.encode())
        head, _, body = plain.partition(b"\n")
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in orjson.loads(head)["h"]]
        return Answer(status, headers, body)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Found:
    """What a claim met instead: another request's running claim, or its stored answer."""

    fingerprint: str
    status: int | None  # None: still running
    sealed: bytes | None


@dataclass(frozen=True, slots=True)
class Claim:
    holder: str  # a random id of this claim: only its holder finishes or releases it
    record: bytes = b""  # Redis: the running record, compared before it is replaced


class DatabaseStore:
    """The table, through the ORM engine in short transactions of their own."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # SQLite: BEGIN IMMEDIATE, so a claim's read-then-write holds the write lock throughout.
        self.engine = db.engine.execution_options(**{SQLITE_BEGIN: True})
        self.claims = 0
        dialect = postgresql if db.dialect == "postgresql" else sqlite
        self._insert = dialect.insert

    async def claim(self, sealed: Sealed, now: datetime, lease_until: datetime) -> Claim | Found:
        table = TABLE
        holder = secrets.token_hex(16)
        row = {
            "id": sealed.id,
            "fingerprint": sealed.fingerprint,
            "claim": holder,
            "status": None,
            "response": None,
            "created_at": now,
            "expires_at": lease_until,
        }
        self.claims += 1
        async with self.engine.begin() as conn:
            if self.claims % SWEEP_EVERY == 1:
                await conn.execute(_sweep(now))
            for _ in range(3):
                inserted = await conn.execute(
                    self._insert(table).values(row).on_conflict_do_nothing(index_elements=["id"])
                )
                if inserted.rowcount == 1:
                    return Claim(holder)
                found = (
                    await conn.execute(
                        select(
                            table.c.fingerprint,
                            table.c.status,
                            table.c.response,
                            table.c.expires_at,
                        ).where(table.c.id == sealed.id)
                    )
                ).first()
                if found is None:
                    continue  # expired and swept in between: insert again
                if found.expires_at > now:
                    return Found(found.fingerprint, found.status, found.response)
                # Expired (an old answer, or a lease its worker never ended): take it over.
                taken = await conn.execute(
                    update(table)
                    .where(table.c.id == sealed.id, table.c.expires_at <= now)
                    .values({k: v for k, v in row.items() if k != "id"})
                )
                if taken.rowcount == 1:
                    return Claim(holder)
        raise ServiceUnavailable("The idempotency key is contended; retry.")

    async def finish(
        self,
        sealed: Sealed,
        claim: Claim,
        status: int,
        payload: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        table = TABLE
        done = update(table).where(table.c.id == sealed.id, table.c.claim == claim.holder)
        values = {"claim": None, "status": status, "response": payload, "expires_at": expires_at}
        await asyncio.shield(self._run(done.values(values)))

    async def release(self, sealed: Sealed, claim: Claim) -> None:
        table = TABLE
        await asyncio.shield(
            self._run(delete(table).where(table.c.id == sealed.id, table.c.claim == claim.holder))
        )

    async def _run(self, statement: Executable) -> None:
        """One statement in a transaction of its own, in a task of its own: shielded by the
        callers, so that a request cancelled meanwhile still ends its claim."""
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def sweep(self, now: datetime) -> int:
        async with self.engine.begin() as conn:
            return (await conn.execute(_sweep(now))).rowcount

    async def close(self) -> None:
        """Nothing of its own: the app's engine is disposed with the app."""


def _sweep(now: datetime) -> Delete:
    table = TABLE
    expired = select(table.c.id).where(table.c.expires_at <= now).limit(SWEEP_BATCH)
    return delete(table).where(table.c.id.in_(expired.scalar_subquery()))


# A record is "<expires ms by the app's clock>|<claim holder or empty>|<fingerprint>|<status>|"
# followed by the sealed answer. Redis's own TTL removes it; the app's clock decides expiry.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local bar = string.find(cur, '|', 1, true)
  if tonumber(string.sub(cur, 1, bar - 1)) > tonumber(ARGV[2]) then return cur end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""
# Replace (or with an empty ARGV[2], delete) the record only while it is still our claim.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


class RedisStore:
    """A finish or release runs through a cancellation of its request: a pipelined script call
    runs once made (``core.redis_script``); redis-py's (TLS) is shielded in a task."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.prefix = f"{prefix}:idem:"
        # Two scripts per keyed write: the limiter's lean pipelined path (core.redis_script)
        # costs a third of redis-py's per call.
        self._claim = script_for(redis, _CLAIM)
        self._finish = script_for(redis, _FINISH)

    async def claim(self, sealed: Sealed, now: datetime, lease_until: datetime) -> Claim | Found:
        holder = secrets.token_hex(16)
        record = _record(lease_until, holder, sealed.fingerprint, None, b"")
        try:
            cur = await self._claim(
                keys=[self.prefix + sealed.id],
                args=[record, _ms(now), _ttl_ms(now, lease_until)],
            )
        except (RedisError, OSError) as exc:
            raise unavailable() from exc
        if cur is None:
            return Claim(holder, record)
        _exp, claim, fingerprint, status, sealed_answer = bytes(cur).split(b"|", 4)
        if claim:
            return Found(fingerprint.decode(), None, None)
        return Found(fingerprint.decode(), int(status), sealed_answer)

    async def finish(
        self,
        sealed: Sealed,
        claim: Claim,
        status: int,
        payload: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        record = _record(expires_at, "", sealed.fingerprint, status, payload)
        await self._run_finish(sealed, [claim.record, record, _ttl_ms(now, expires_at)])

    async def release(self, sealed: Sealed, claim: Claim) -> None:
        await self._run_finish(sealed, [claim.record, b"", 1])

    async def _run_finish(self, sealed: Sealed, args: list[bytes | int]) -> None:
        call = self._finish(keys=[self.prefix + sealed.id], args=args)
        try:
            await (call if isinstance(self._finish, PipelinedScript) else asyncio.shield(call))
        except (RedisError, OSError) as exc:
            raise unavailable() from exc

    async def close(self) -> None:
        await close_script(self._claim)
        await close_script(self._finish)


def _record(
    expires_at: datetime, claim: str, fingerprint: str, status: int | None, sealed: bytes
) -> bytes:
    head = f"{_ms(expires_at)}|{claim}|{fingerprint}|{'' if status is None else status}|"
    return head.encode() + sealed


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _ttl_ms(now: datetime, until: datetime) -> int:
    return max(1, int((until - now) / timedelta(milliseconds=1)))


def unavailable() -> ServiceUnavailable:
    return IdempotencyUnavailable("Idempotency keys cannot be checked right now; retry.")


IdempotencyStore = DatabaseStore | RedisStore


def idempotency_store(db: Database, redis: Redis | None, prefix: str) -> IdempotencyStore:
    """Redis when the deployment has one (shared by every host), else the database's table."""
    return RedisStore(redis, prefix) if redis is not None else DatabaseStore(db)
