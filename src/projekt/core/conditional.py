"""Validators derived from version numbers, and If-Match checks for writes."""

from __future__ import annotations

import hashlib

from fastapi import Request

from projekt.core.errors import PreconditionFailed


def version_etag(*parts: object) -> str:
    """A strong tag from what identifies a representation (ids and version counters)."""
    raw = ":".join(str(part) for part in parts).encode()
    return '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


def check_if_match(request: Request, current: str) -> None:
    """A stale ``If-Match`` means someone else wrote first: 412, and nothing is written."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return
    # Strong comparison (RFC 9110 §13.1.1): weak tags never match.
    tags = [tag.strip() for tag in header.split(",")]
    if current not in tags:
        raise PreconditionFailed()
