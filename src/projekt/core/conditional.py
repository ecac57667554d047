"""Validators derived from version numbers, and the If-Match precondition of writes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from projekt.core.errors import PreconditionFailed


def version_etag(*parts: object) -> str:
    """A strong tag from what identifies a representation (ids and version counters)."""
    raw = ":".join(str(part) for part in parts).encode()
    return '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class IfMatch:
    """A request's ``If-Match``, to be checked by the write itself, under its row lock.

    Comparing against a read made before the row is locked lets every concurrent writer holding
    the same tag pass (a lost update). So the router only parses the header, and the service
    calls ``check`` with the tag of the row it has just locked (``SELECT … FOR UPDATE`` on
    PostgreSQL; on SQLite a writing unit of work holds the database's write lock from its
    BEGIN): of N writers with one tag, the first one wins and the others get 412.
    """

    tags: tuple[str, ...] | None = None  # None: no precondition (no header, or "*")

    @classmethod
    def parse(cls, header: str | None) -> IfMatch:
        if header is None or header.strip() == "*":
            return cls(None)
        return cls(tuple(tag.strip() for tag in header.split(",")))

    def check(self, current: str) -> None:
        """412 unless ``current`` (the locked row's tag) is one of the tags sent."""
        # Strong comparison (RFC 9110 §13.1.1): weak tags never match.
        if self.tags is not None and current not in self.tags:
            raise PreconditionFailed()


async def get_if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="The ETag you read; a stale one answers 412 and writes nothing.",
        ),
    ] = None,
) -> IfMatch:
    return IfMatch.parse(if_match)


IfMatchDep = Annotated[IfMatch, Depends(get_if_match)]
