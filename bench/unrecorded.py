"""The benchmark's ``unrecorded`` server: our app with the record's writes patched out.

Issue 16 asks that a create *with its event* keep at least 0.9× of the create without one. The
record is written by every write, in the write's own transaction (docs/architecture.md, "The
record"), and there is deliberately no setting that turns it off: an audit trail that a
configuration can silence is not one. So the create without its event exists only here, for
that ratio: this module replaces the places that write events (the issue create's one
statement on PostgreSQL, ``CREATE_AT_ONCE``, by the same statement without its event;
``append_one``, the last statement of the issue create's transaction otherwise; and
``Recorder.write``, which writes a unit of work's drafts before its commit) with ones that write
nothing, then serves the unchanged app as ``projekt serve`` serves one worker (its server class,
so the collector is tuned alike, and its options).

    python -m bench.unrecorded --port 8123     # PROJEKT_* settings from the environment

Never import this module from the app: importing it is what patches.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

import projekt.issues.repository as issue_repository
from projekt.config import Settings
from projekt.core import logs, record
from projekt.core.fastsql import FastTransaction
from projekt.main import create_app as create_recorded_app
from projekt.serve import WorkerServer, _options


async def _append_nothing(_tx: FastTransaction, _event: Any, _occurred_at: Any) -> None:
    """The issue create's event, not written."""


async def _write_nothing(_self: record.Recorder, session: AsyncSession) -> None:
    """A unit of work's drafts, dropped instead of written before the commit."""
    session.info.pop(record.PENDING, None)


def unrecord() -> None:
    issue_repository.CREATE_AT_ONCE = issue_repository.create_at_once_statement(recorded=False)
    record.append_one = _append_nothing  # type: ignore[assignment]
    issue_repository.append_one = _append_nothing  # type: ignore[assignment]
    record.Recorder.write = _write_nothing  # type: ignore[method-assign]


def create_app() -> FastAPI:
    """The app factory uvicorn calls: the patches first, then the app as ``projekt serve``
    builds it (its ``Recorder.write`` is bound when its services are built)."""
    unrecord()
    return create_recorded_app(Settings())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.unrecorded")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings()
    # As ``projekt serve`` sets logging up (cli.py ``_serve``).
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    logs.install()
    # Served as ``projekt serve`` serves one worker (``WorkerServer``: its collector tuned too).
    options = _options(args.host, args.port, settings)
    WorkerServer(uvicorn.Config("bench.unrecorded:create_app", **options)).run()


if __name__ == "__main__":
    main()
