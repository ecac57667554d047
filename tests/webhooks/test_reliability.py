"""Issue 18's reliability tests: real processes (``projekt worker``, ``projekt serve``) deliver
a stream of 500 recorded events to a receiver on loopback while the test kills a worker with
SIGKILL, restarts PostgreSQL, or runs two servers against one endpoint. After each, every event
has arrived, any duplicate carries the same ``webhook-id`` as its original, and the order of
first arrivals is the record's order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from projekt.cli import autogroup_nice
from projekt.config import Settings
from projekt.core import migrate
from projekt.core.record import SYSTEM, Event, record
from projekt.main import create_app
from projekt.webhooks.delivery import SEND_AHEAD
from tests.conftest import WEBHOOK_KEY, make_settings
from tests.factories import Factory, Org
from tests.private_services import PrivatePostgres, free_port, migrated_private_postgres
from tests.webhooks.receiver import Receiver, receiving
from tests.webhooks.support import make_webhook

PG_LEG = (os.environ.get("PROJEKT_TEST_DATABASE_URL") or "").startswith("postgres")
EVENTS = 500


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    if not PG_LEG:
        pytest.skip("runs on the PostgreSQL leg")
    yield from migrated_private_postgres()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the test's own: a fresh SQLite file, or the private PostgreSQL."""
    if request.param == "postgres":
        pg: PrivatePostgres = request.getfixturevalue("private_pg")
        pg.ensure_running()
        yield pg.url()
        return
    folder = tempfile.mkdtemp(prefix="projekt-hooks-")
    url = f"sqlite+aiosqlite:///{Path(folder) / 'hooks.db'}"
    migrate.upgrade(Settings(database_url=url, environment="test"))
    yield url


@dataclass
class Stream:
    app: FastAPI
    org: Org
    webhook: dict[str, object]
    event_ids: list[str]  # in seq order


@asynccontextmanager
async def stream(database_url: str, receiver: Receiver) -> AsyncIterator[Stream]:
    """An org with an endpoint at the receiver, and 500 events in its record."""
    settings = make_settings(database_url=database_url, redis_url=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        factory = Factory(app)
        org = await factory.org()
        hook = await make_webhook(org, receiver.url, events=["issue.*"])
        receiver.secret = str(hook["secret"])
        services = app.state.services
        for batch in range(EVENTS // 50):
            async with services.db.session() as session:
                for n in range(50):
                    record(session, (org.id, SYSTEM), "issue.updated", uuid.uuid4(),
                           changes={"n": [None, batch * 50 + n]})  # fmt: skip
        async with services.db.read() as session:
            ids = list(
                (
                    await session.execute(
                        select(Event.id)
                        .where(Event.org_id == org.id, Event.type == "issue.updated")
                        .order_by(Event.seq)
                    )
                ).scalars()
            )
        assert len(ids) == EVENTS
        try:
            yield Stream(app, org, hook, [str(i) for i in ids])
        finally:
            # Paused, so later tests' processes on the same database leave it alone.
            await org.owner.client.patch(
                f"/api/webhooks/{hook['id']}",
                json={"active": False},
                headers=org.owner.headers(org.id),
            )


class Process:
    """``projekt worker`` or ``projekt serve``, its output in a file."""

    def __init__(
        self, database_url: str, *argv: str, own_session: bool = False, **env: str
    ) -> None:
        self.log = Path(tempfile.mkstemp(prefix="projekt-hooks-", suffix=".log")[1])
        environ = {
            **os.environ,
            "PROJEKT_DATABASE_URL": database_url,
            "PROJEKT_ENVIRONMENT": "test",
            "PROJEKT_WEBHOOK_SECRET_KEY": WEBHOOK_KEY,
            "PROJEKT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            # A killed worker's endpoints are free again after 2 s (the lease must outlast a
            # send's timeout).
            "PROJEKT_WEBHOOK_LEASE_S": "2",
            "PROJEKT_WEBHOOK_TIMEOUT_S": "1",
            "PROJEKT_WEBHOOK_POLL_S": "0.05",
            "PROJEKT_ACCESS_LOG": "false",
            "PROJEKT_REDIS_URL": "",
            **env,
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "projekt", *argv],
                env=environ,
                stdout=out,
                stderr=out,
                start_new_session=own_session,
            )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text()[-3000:]


def check_arrivals(receiver: Receiver, expected: list[str]) -> None:
    """Every event arrived; duplicates only re-send an id; first arrivals in record order."""
    assert receiver.bad_signatures == 0
    got = [i for i in receiver.ids if i in set(expected)]
    assert set(got) == set(expected)
    assert list(dict.fromkeys(got)) == expected


async def test_kill_9_of_the_delivering_worker_loses_nothing(database_url: str) -> None:
    async with receiving() as receiver, stream(database_url, receiver) as s:
        first = Process(database_url, "worker")
        try:
            await receiver.until(150)
            first.kill()  # SIGKILL: no shutdown, its lease and its send in flight just stop
        finally:
            first.stop()
        cut = receiver.distinct
        assert cut < EVENTS, "the stream ended before the kill"
        second = Process(database_url, "worker")
        try:
            await receiver.until(EVENTS)
        except AssertionError:
            raise AssertionError(second.output()) from None
        finally:
            second.stop()
        check_arrivals(receiver, s.event_ids)
        # At least once: what is sent again is at most the turn the kill cut short.
        assert len(receiver.ids) - EVENTS <= SEND_AHEAD


@pytest.mark.postgres
async def test_a_postgres_restart_mid_stream_loses_nothing(private_pg: PrivatePostgres) -> None:
    url = private_pg.url()
    async with receiving() as receiver, stream(url, receiver) as s:
        worker = Process(url, "worker")
        try:
            await receiver.until(150)
            private_pg.restart("fast")
            await receiver.until(EVENTS)
        except AssertionError:
            raise AssertionError(worker.output()) from None
        finally:
            worker.stop()
        assert receiver.distinct > 150
        check_arrivals(receiver, s.event_ids)


async def test_two_servers_never_deliver_to_one_endpoint_at_once(database_url: str) -> None:
    async with receiving() as receiver, stream(database_url, receiver) as s:
        # Short turns, so the endpoint changes hands between the two servers.
        servers = [
            Process(database_url, "serve", "--port", str(free_port()), PROJEKT_WEBHOOK_BATCH="20")
            for _ in range(2)
        ]
        try:
            await receiver.until(EVENTS)
        except AssertionError:
            raise AssertionError("\n".join(p.output() for p in servers)) from None
        finally:
            for server in servers:
                server.stop()
        assert receiver.most_in_flight == 1
        check_arrivals(receiver, s.event_ids)
        assert len(receiver.ids) == EVENTS  # nothing crashed: nothing was sent twice


def _group_nice(pid: int | str) -> int | None:
    return autogroup_nice(Path(f"/proc/{pid}/autogroup"))


def test_autogroup_nice_reads_what_the_kernel_writes(tmp_path: Path) -> None:
    """The group's nice where the kernel names one; None where the file is empty (a process in
    a cgroup of its own, as on CI's machines), unreadable, or absent."""
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-85 nice 5\n")
    assert autogroup_nice(group) == 5
    group.write_text("")
    assert autogroup_nice(group) is None
    group.write_text("/autogroup-85 nice ?\n")
    assert autogroup_nice(group) is None
    assert autogroup_nice(tmp_path / "absent") is None


@pytest.mark.parametrize(("nice", "own_session"), [(0, False), (7, False), (7, True)])
def test_the_worker_gives_api_processes_the_cpu_first(nice: int, own_session: bool) -> None:
    """``projekt worker`` lowers its own scheduling priority to PROJEKT_WEBHOOK_WORKER_NICE (a
    process started nicer stays as nice: it never raises it), and says so in its log. Leading
    a session of its own, it gives that session's autogroup the same nice (the kernel shares
    the CPU between autogroups first); sharing the caller's session, it leaves the group as
    it was."""
    folder = tempfile.mkdtemp(prefix="projekt-hooks-")
    url = f"sqlite+aiosqlite:///{Path(folder) / 'hooks.db'}"
    expected = max(os.getpriority(os.PRIO_PROCESS, 0), nice)
    ours_before = _group_nice("self")
    worker = Process(url, "worker", own_session=own_session, PROJEKT_WEBHOOK_WORKER_NICE=str(nice))
    try:
        for _ in range(600):  # up to 30 s: imports and migrations come first
            assert worker.proc.poll() is None, worker.output()
            if "worker delivering webhooks" in worker.output():
                break
            time.sleep(0.05)
        assert f"worker delivering webhooks at nice {expected}" in worker.output()
        assert os.getpriority(os.PRIO_PROCESS, worker.proc.pid) == expected
        if ours_before is not None:
            assert _group_nice("self") == ours_before
            if own_session:
                assert _group_nice(worker.proc.pid) == max(expected, ours_before)
    finally:
        worker.stop()
