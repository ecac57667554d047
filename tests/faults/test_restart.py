"""After PostgreSQL restarts, the very first requests succeed: dead pooled connections are
noticed before use (the ORM's pre-ping) or the read is run again once (the fast path) (13.6)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from sqlalchemy import Integer, Select, literal_column, select

from tests.faults.conftest import app_on, world
from tests.private_services import PrivatePostgres

pytestmark = pytest.mark.postgres


async def test_the_first_requests_after_a_restart_succeed(private_pg: PrivatePostgres) -> None:
    async with app_on(private_pg) as app:
        w = await world(app, keys=3)
        owner, headers = w.org.owner, w.org.owner.headers(w.org.id)
        params = {"project_id": str(w.project_id)}
        async with w.client() as c, w.client(w.keys[1]) as fresh:
            # Fill both pools with connections that the restart will kill.
            assert (await c.get("/readyz")).status_code == 200
            assert (await owner.client.get("/api/team", headers=headers)).status_code == 200
            assert (await c.get("/api/issues", params=params)).status_code == 200
            # Blocking on purpose: the app gets no chance to see its sockets close.
            private_pg.restart("fast")
            answers = {
                "readyz": await c.get("/readyz"),
                "team": await owner.client.get("/api/team", headers=headers),
                "create project": await c.post("/api/projects", json={"key": "RST", "name": "R"}),
                "create issue": await c.post("/api/issues", json={**params, "title": "after"}),
                "issue list": await c.get("/api/issues", params=params),
                "issue": await c.get(f"/api/issues/{w.issue_id}"),
                "me (cold key)": await fresh.get("/api/me"),
            }
    failed = {name: r.text for name, r in answers.items() if r.status_code >= 400}
    assert not failed


@pytest.mark.skipif(shutil.which("psql") is None, reason="needs psql")
@pytest.mark.parametrize("run", ["fetch", "write"])
async def test_a_fast_statement_on_a_terminated_session_is_run_again(
    private_pg: PrivatePostgres, run: str
) -> None:
    """A read, and a write whose session the server ended before it could run (it says so:
    SQLSTATE 57P01), run once more on a fresh connection instead of answering 503."""
    async with app_on(private_pg, db_pool_size=1) as app:
        fast = app.state.services.fast
        statement = getattr(fast, run)
        one: Select[tuple[int]] = select(literal_column("1", Integer).label("one"))
        assert (await statement(one, {}))[0]["one"] == 1
        # Kill the pooled connection's backend behind the event loop's back (psql blocks it),
        # then run on it at once: the app still believes the connection is alive.
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(private_pg.port), "-U", "postgres", "-qAtc",
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"],
            check=True, capture_output=True,
        )  # fmt: skip
        time.sleep(0.2)  # the backend is gone before the loop runs again
        rows = await statement(one, {})
    assert rows[0]["one"] == 1
