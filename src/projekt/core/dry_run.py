"""Dry runs (API.md §9): a write that runs for real and is then rolled back.

``DryRunMiddleware`` marks the request; every transaction owner (``Database.commit``, which
the unit of work and the token exchange go through, and ``FastSQL.transaction``) asks
``dry_running()`` and rolls back instead of committing, skipping the ``after_commit`` hooks.
A context variable rather than a request attribute: the fast path's transaction is opened by
a service that never sees the request, and a flag the owners read themselves means no route
can forget to pass it on. The middleware sets it around the request and resets it after, so
it never outlives the request (each request runs in its own task and context).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DRY_RUN: ContextVar[bool] = ContextVar("projekt_dry_run", default=False)


def dry_running() -> bool:
    """Whether the current request is a dry run: its transactions must not commit."""
    return _DRY_RUN.get()


@contextmanager
def dry_run() -> Iterator[None]:
    """Everything inside runs as a dry run."""
    token = _DRY_RUN.set(True)
    try:
        yield
    finally:
        _DRY_RUN.reset(token)
