"""What the changes feed shows of time entries (``core.feed``): each as its REST ``GET``
answers it, read for a whole page in one statement on the fast path (the entries of projects
the caller sees), as the list reads them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.core.feed import Feed, Read, Representations
from projekt.time_tracking.service import TimeFastPath

feed = Feed()


@feed.reader("time_entry")
async def time_entries(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    time = TimeFastPath(read.services, read.ctx)
    rows, _ = await time.reads.listing({"ids": list(ids)}, (), len(ids), 0)
    return {uuid.UUID(row["id"]): row for row in map(time.entry_data, rows)}
