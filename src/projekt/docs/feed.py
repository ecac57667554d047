"""What the changes feed shows of docs (``core.feed``): each as its REST ``GET`` answers it (the
doc's metadata), read for a whole page in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from projekt.core.feed import Feed, Read, Representations
from projekt.docs.models import Doc
from projekt.docs.repository import DocRepository
from projekt.docs.service import doc_read

feed = Feed()


@feed.reader("doc")
async def docs(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    repo = DocRepository(read.session, read.ctx.org_id)
    # Only docs of projects the caller sees, as DocService.get.
    stmt = repo.select().where(Doc.id.in_(ids), repo._visible(read.ctx.user_id))
    found = (await read.session.execute(stmt)).scalars()
    return {doc.id: doc_read(doc).model_dump(mode="json") for doc in found}
