"""What the changes feed shows of API keys (``core.feed``): each as ``GET /api/keys/{id}``
answers it, to whom it answers it: their own keys for members, anyone's for admins and owners;
a revoked key is gone. One statement for a whole page: the keys the caller may list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.api_keys.service import ApiKeyService
from projekt.core.context import Role
from projekt.core.feed import Feed, Read, Representations

feed = Feed()


@feed.reader("api_key")
async def api_keys(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    wanted = set(ids)
    everyone = read.ctx.role.at_least(Role.ADMIN)
    keys = await ApiKeyService(read.session, read.services).listing(read.ctx, everyone)
    return {key.id: key.model_dump(mode="json") for key in keys if key.id in wanted}
