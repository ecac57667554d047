"""What the changes feed shows of webhook endpoints (``core.feed``): each as its REST ``GET``
answers it (never its secret). Only admins and owners read these events at all (audit's
``ADMIN_ONLY``); an org has few endpoints, so one statement reads them all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.core.feed import Feed, Read, Representations
from projekt.webhooks.service import WebhookService

feed = Feed()


@feed.reader("webhook")
async def webhooks(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    wanted = set(ids)
    found = await WebhookService(read.session, read.services, read.ctx).listing()
    return {hook.id: hook.model_dump(mode="json") for hook, _ in found if hook.id in wanted}
