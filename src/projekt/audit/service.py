"""The audit log and the changes feed: two readers of the record (``core.record``)."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from projekt.audit.errors import BadCursor
from projekt.audit.feeds import DECLARED
from projekt.audit.repository import AuditFilters, AuditReads, AuditRow, Change, FeedReads

# The filters are part of this service's signature: callers outside audit (the web page) take
# them from here, never from the repository.
__all__ = ["AuditFilters", "AuditLog", "ChangesFeed", "decode_cursor", "encode_cursor"]
from projekt.core.context import OrgContext, Role
from projekt.core.deps import AppServices
from projekt.core.feed import Read


def encode_cursor(org_id: uuid.UUID, seq: int) -> str:
    """A position in one org's record: opaque to clients, and naming its org."""
    return base64.urlsafe_b64encode(f"{org_id.hex}.{seq}".encode()).decode().rstrip("=")


def cursors(org_id: uuid.UUID) -> Callable[[int], str]:
    """``encode_cursor`` for one org, for a page of them. The org's part is 33 bytes (a
    multiple of 3), so its base64 does not depend on what follows: it is encoded once. The
    sequence number's digits never encode to ``+`` or ``/`` (their 6-bit groups stay below 58),
    so the URL-safe alphabet needs no translation."""
    head = f"{org_id.hex}.".encode()
    assert len(head) % 3 == 0
    prefix = base64.urlsafe_b64encode(head).decode()
    b64 = binascii.b2a_base64

    def cursor(seq: int) -> str:
        return prefix + b64(b"%d" % seq, newline=False).rstrip(b"=").decode()

    return cursor


_SEQ = re.compile(r"[0-9]{1,19}")
MAX_SEQ = 2**63 - 1


def decode_cursor(cursor: str, org_id: uuid.UUID) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        org_hex, seq_text = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split(".")
        owner = uuid.UUID(hex=org_hex)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadCursor("The cursor is malformed.") from None
    # Only what ``encode_cursor`` writes: ASCII digits (``int`` also takes "1_0", " 1" and
    # other scripts' digits), and a number a BIGINT holds (a larger one failed in the driver).
    if not _SEQ.fullmatch(seq_text) or int(seq_text) > MAX_SEQ:
        raise BadCursor("The cursor is malformed.")
    if owner != org_id:
        raise BadCursor("The cursor belongs to another organization.")
    return int(seq_text)


class AuditLog:
    """``GET /api/audit`` (and the web's Audit page): the record newest first, each event with
    the names of its person, key and OAuth client, in one statement on the fast path
    (``AuditReads``), written as plain data (``AuditPage`` documents it)."""

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx

    async def page(self, filters: AuditFilters, cursor: str | None, limit: int) -> dict[str, Any]:
        """``{data, meta}``, newest first, ``limit`` at a time; ``cursor`` continues below the
        last page. JSON-ready for ``core.responses.dumps``."""
        org_id = self.ctx.org_id
        before = decode_cursor(cursor, org_id) if cursor else None
        retention = self.services.settings.audit_retention_days
        if retention is not None:
            oldest = self.services.clock.now() - timedelta(days=retention)
            if filters.since is None or filters.since < oldest:
                filters = replace(filters, since=oldest)
        reads = AuditReads(self.services.fast, org_id)
        rows, last = await reads.page(filters, before, limit + 1)
        if before is not None:
            if last is None:
                last = await reads.last_seq()
            if before > last + 1:
                raise BadCursor("The cursor points past this organization's record.")
        cursor_of = cursors(org_id)
        data = [_entry(row, cursor_of) for row in rows[:limit]]
        next_cursor = data[-1]["cursor"] if len(rows) > limit else None
        return {"data": data, "meta": {"limit": limit, "next_cursor": next_cursor}}


def _entry(row: AuditRow, cursor_of: Callable[[int], str]) -> dict[str, Any]:
    """One ``AuditEntry`` from its row (``audit_statement``'s columns)."""
    (id_, seq, occurred_at, kind, resource_type, resource_id, project_id, user_id,
     credential_kind, credential_id, client_id, request_id, changes, user_name, key_name,
     last_four, client_name, _) = row  # fmt: skip
    return {
        "id": id_,
        "seq": seq,
        "cursor": cursor_of(seq),
        "occurred_at": occurred_at,
        "type": kind,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "project_id": project_id,
        "actor": {
            "user_id": user_id,
            "user_name": user_name if user_id is not None else None,
            "credential_kind": credential_kind,
            "credential": {
                "id": credential_id,
                "kind": credential_kind,
                # An OAuth client's name wins over a key's (an event has one or the other).
                "name": client_name if client_id is not None else key_name,
                "last_four": last_four,
            },
            "oauth_client_id": client_id,
        },
        "request_id": request_id,
        "changes": changes,
    }


class ChangesFeed:
    """``GET /api/changes``: the record oldest first after a cursor, each resource as it is now.

    A page costs a constant number of statements whatever its size: the page of events on the
    fast path, which brings along the representations of the types read with it (``joined`` in
    their ``feed.py``), then one batched read per other resource type on the page, by that
    type's reader as its domain declares it (``core.feed``, collected in ``audit/feeds.py``).
    """

    def __init__(self, services: AppServices, ctx: OrgContext) -> None:
        self.services = services
        self.ctx = ctx

    async def page(self, since: str | None, limit: int) -> dict[str, Any]:
        """``{data, next_cursor}``, JSON-ready for ``core.responses.dumps``."""
        org_id = self.ctx.org_id
        after = decode_cursor(since, org_id) if since else 0
        record = FeedReads(self.services.fast, org_id, self.ctx.user_id)
        everything = self.ctx.role.at_least(Role.ADMIN)
        changes = await record.page(after, limit, everything)
        if not changes:
            # Nothing the caller may read after ``after`` yet. Take the end of the record, then
            # look again: every number up to that end had committed before the second look, so
            # a page that is still empty may resume from there without skipping anything.
            last = await record.last_seq()
            if after > last:
                raise BadCursor("The cursor points past this organization's record.")
            changes = await record.page(after, limit, everything)
            if not changes:
                return {"data": [], "next_cursor": encode_cursor(org_id, max(after, last))}
        unread = [change for change in changes if not change[5]]
        current = await self._current(unread) if unread else {}
        cursor = cursors(org_id)
        data = []
        for seq, kind, resource_type, resource_id, resource, read in changes:
            if not read:
                resource = current[resource_type].get(resource_id)
            data.append(
                {
                    "cursor": cursor(seq),
                    "type": kind,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "action": "delete" if resource is None else "upsert",
                    "resource": resource,
                }
            )
        return {"data": data, "next_cursor": data[-1]["cursor"]}

    async def _current(self, changes: Sequence[Change]) -> dict[str, dict[str, Mapping[str, Any]]]:
        """The resources of these changes as the caller would read them now, by type and id
        (absent: gone or hidden), one batched reader call per resource type."""
        wanted: dict[str, dict[str, None]] = {}
        for _, _, resource_type, resource_id, _, _ in changes:
            wanted.setdefault(resource_type, {})[resource_id] = None
        read = Read(self.services, self.ctx)
        current: dict[str, dict[str, Mapping[str, Any]]] = {}
        try:
            for kind, ids in wanted.items():
                reader = DECLARED.readers.get(kind)
                found = {} if reader is None else await reader(read, [uuid.UUID(i) for i in ids])
                current[kind] = {str(key): value for key, value in found.items()}
        finally:
            await read.close()
        return current
