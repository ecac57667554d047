"""What the changes feed shows of time entries (``core.feed``): each as its REST ``GET``
answers it, read for a whole page in one statement (the entries of projects the caller sees)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.core.feed import Feed, Read, Representations
from projekt.time_tracking.models import TimeEntry
from projekt.time_tracking.service import TimeService

feed = Feed()


@feed.reader("time_entry")
async def time_entries(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    time = TimeService(read.session, read.services, read.ctx)
    rows, _ = await time.entries.listing(read.ctx.user_id, [TimeEntry.id.in_(ids)], (), len(ids), 0)
    return {entry.id: time.read(entry).model_dump(mode="json") for entry in rows}
