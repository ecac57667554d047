"""HTTP rules shared by the middleware and the routes that answer conditional GETs themselves."""

from __future__ import annotations


def none_match(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` matches (weak comparison, as the RFC asks for this header)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))
