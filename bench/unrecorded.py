"""The benchmark's ``unrecorded`` server: our app with the record's writes patched out.

Issue 16 asks that a create *with its event* keep at least 0.9× of the create without one. The
record is written by every write, in the write's own transaction (docs/architecture.md, "The
record"), and there is deliberately no setting that turns it off: an audit trail that a
configuration can silence is not one. So the create without its event exists only here, for
that ratio: this module replaces the two places that write events (``append_one``, the issue
create's last statement on the fast path, and ``Recorder.write``, which writes a unit of work's
drafts before its commit) with functions that write nothing, then serves the unchanged app with
the same server options as ``projekt serve`` (one worker).

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

import projekt.issues.service as issue_service
from projekt.config import Settings
from projekt.core import logs, record
from projekt.core.fastsql import FastTransaction
from projekt.main import create_app as create_recorded_app
from projekt.serve import _options


async def _append_nothing(_tx: FastTransaction, _event: Any, _occurred_at: Any) -> None:
    """The issue create's event, not written."""


async def _write_nothing(_self: record.Recorder, session: AsyncSession) -> None:
    """A unit of work's drafts, dropped instead of written before the commit."""
    session.info.pop(record.PENDING, None)


def unrecord() -> None:
    record.append_one = _append_nothing  # type: ignore[assignment]
    issue_service.append_one = _append_nothing  # type: ignore[assignment]
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
    uvicorn.run("bench.unrecorded:create_app", **_options(args.host, args.port, settings))


if __name__ == "__main__":
    main()
