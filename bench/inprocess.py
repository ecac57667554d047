"""CPU per request of the app alone: raw ASGI calls in a loop, no server, no wrk.

``python -m bench.inprocess [--n 2000] [--only list,get,create,changes] [--unrecorded]
[--size 100000] [--profile out.prof] [--toggle route_index|param_analysis] [--off NAME,…]``
(``--only`` also takes ``create_idempotent``, a fresh ``Idempotency-Key`` on every call;
``docs_list`` and ``doc_get``, whose docs are made through the app once; and ``time_summary``,
whose 10,000 entries are seeded once.)

The same requests as ``make bench`` (a list, a get, a create, each with its org's PAT) against
a seeded PostgreSQL database and Redis, timed with ``time.process_time``: PostgreSQL and Redis
run in their own processes, so what is measured is the worker's own CPU, which wall-clock rps
on a shared machine hides under noise. Each scenario is run in interleaved rounds and the
median reported. Uses ``PROJEKT_BENCH_DB_PREFIX`` (default ``projekt_bench``) and
``PROJEKT_BENCH_REDIS``; the database is created and seeded (2,000 issues; ``--size`` for
another count, such as ``make bench``'s 100,000, whose projects hold as many issues as the
summary's groups by issue meet there) when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import statistics
import time
from typing import Any

import asyncpg

from bench import seed
from bench.__main__ import DB_PREFIX, REDIS, ROOT, app_url, pg_dsn, prepare_pg, prepare_sqlite

SIZE = 2_000


def scope_of(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    path, _, query = target.partition("?")
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"host", b"127.0.0.1:8000"))
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


_KEYS = itertools.count()


async def call(app: Any, request: dict[str, Any]) -> int:
    if request.get("fresh_key"):  # create_idempotent: a key never sent before, as wrk's script
        key = f"inproc-{os.getpid()}-{time.time_ns()}-{next(_KEYS)}"
        request = {**request, "headers": {**request["headers"], "Idempotency-Key": key}}
    return (await exchange(app, request))[0]


async def exchange(app: Any, request: dict[str, Any]) -> tuple[int, bytes]:
    """One request through the app: its status and body."""
    body = request.get("body", "").encode()
    scope = scope_of(request["method"], request["path"], request["headers"], body)
    status = 0
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def seeded_pg(database: str, size: int) -> seed.Dataset:
    """The seeded database; creates from earlier runs stay (``prepare_pg`` would seed anew)."""
    data, rows = seed.build(size)
    try:
        conn = await asyncpg.connect(pg_dsn(database))
    except asyncpg.InvalidCatalogNameError:
        return await prepare_pg(database, size)
    try:
        have = await conn.fetchval("SELECT count(*) FROM issues")
        key = await conn.fetchval(
            "SELECT count(*) FROM api_keys WHERE token_hash = $1", rows["api_keys"][0][4]
        )
    finally:
        await conn.close()
    return data if have >= size and key else await prepare_pg(database, size)


def requests_for(kind: str, data: seed.Dataset) -> list[dict[str, Any]]:
    from bench.__main__ import ours_requests

    return ours_requests(kind, data)


async def _post(app: Any, path: str, headers: dict[str, str], made: dict[str, Any]) -> Any:
    request = {"method": "POST", "path": path, "headers": headers, "body": json.dumps(made)}
    status, body = await exchange(app, request)
    assert status == 201, (status, body)
    return json.loads(body)


async def seed_docs(app: Any, data: seed.Dataset) -> dict[str, str]:
    """``make bench``'s docs (each project's 20, the 20 KB handbook among them), made through the
    app once per database; the handbook's id by project."""
    from bench.__main__ import DOCS_PER_PROJECT, HANDBOOK, handbook_markdown

    handbooks: dict[str, str] = {}
    for project in data.projects:
        headers = {"Authorization": f"Bearer {project.token}", "Content-Type": "application/json"}
        base = f"/api/projects/{project.id}/docs"
        status, body = await exchange(app, {"method": "GET", "path": base + "?limit=200",
                                            "headers": headers})  # fmt: skip
        assert status == 200, (status, body)
        docs = json.loads(body)["data"]
        found = [d["id"] for d in docs if d["title"] == HANDBOOK]

        if not found:
            made = {"title": HANDBOOK, "markdown": handbook_markdown()}
            docs.append(await _post(app, base, headers, made))
            found = [docs[-1]["id"]]
        for n in range(len(docs), DOCS_PER_PROJECT):
            page = {"title": f"Page {n}", "position": n, "markdown": f"Page {n}: notes.\n"}
            await _post(app, base, headers, page)
        handbooks[str(project.id)] = found[0]
    return handbooks


async def run(args: argparse.Namespace) -> dict[str, float]:
    os.environ.setdefault("PROJEKT_LOG_LEVEL", "warning")
    from projekt.config import Settings
    from projekt.main import create_app

    if args.unrecorded:  # the record's writes patched out, as the `unrecorded` server
        from bench.unrecorded import unrecord

        unrecord()

    if args.sqlite:
        path = ROOT / "var" / f"bench-{SIZE}.db"
        path.parent.mkdir(exist_ok=True)
        prepare_sqlite(path, SIZE)
        data = seed.build(SIZE)[0]
        url = f"sqlite+aiosqlite:///{path}"
        redis = None
    else:
        data = await seeded_pg(f"{DB_PREFIX}_{args.size}", args.size)
        url = app_url(f"{DB_PREFIX}_{args.size}")
        redis = None if args.no_redis else REDIS
    settings = Settings(
        database_url=url,
        redis_url=redis,
        access_log=False,
        log_level="warning",
        rate_limit_global="1000000000/60s",
        rate_limit_enabled=not args.no_limits,
        redis_prefix=f"inproc-{os.getpid()}",
    )
    app = create_app(settings)
    kinds = args.only.split(",")
    results: dict[str, list[float]] = {kind: [] for kind in kinds}
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    async with app.router.lifespan_context(app):
        plans = {}
        for kind in kinds:
            if kind in ("docs_list", "doc_get"):
                from bench.__main__ import docs_requests

                handbooks = await seed_docs(app, data)
                plans[kind] = docs_requests(kind, data, handbooks)
            elif kind == "time_summary":
                from bench.__main__ import TIME_ENTRIES, time_requests

                assert not args.sqlite, "time_summary is seeded on PostgreSQL only"
                dsn = pg_dsn(f"{DB_PREFIX}_{args.size}")
                await seed.seed_time_postgres(dsn, data, TIME_ENTRIES)
                plans[kind] = time_requests(data)
            else:
                plans[kind] = requests_for(kind, data)
        for kind in kinds:  # warm: caches, prepared statements, pools
            for request in plans[kind][:50]:
                status = await call(app, request)
                assert status in (200, 201), (kind, status)
        switches = Switches(app)
        for name in args.off.split(",") if args.off else []:
            switches.set(name, False)
        sides: list[bool | None] = [None]
        if args.toggle:
            results = {f"{kind}:{side}": [] for kind in kinds for side in ("off", "on")}
        for turn in range(args.rounds):
            if args.toggle:  # off then on, then on then off: drift within a round cancels
                sides = [False, True] if turn % 2 == 0 else [True, False]
            for kind in kinds:
                for side in sides:
                    if side is not None:
                        switches.set(args.toggle, side)
                    plan = plans[kind]
                    if profiler:
                        profiler.enable()
                    started = time.process_time()
                    statuses = [await call(app, plan[i % len(plan)]) for i in range(args.n)]
                    spent = time.process_time() - started
                    wrong = [s for s in statuses if s not in (200, 201)]
                    assert not wrong, f"{kind}: {len(wrong)} answers were not 2xx ({wrong[0]})"
                    if profiler:
                        profiler.disable()
                    label = kind if side is None else f"{kind}:{'on' if side else 'off'}"
                    results[label].append(spent / args.n * 1e6)
    if profiler:
        profiler.dump_stats(args.profile)
    return {kind: round(statistics.median(v)) for kind, v in results.items()}


class Switches:
    """The speed-ups of issue 21 that can be turned off in a running app, for an A/B in one
    process (``--toggle NAME``: each scenario alternates off and on within every round;
    ``--off NAME``: off for the whole run): ``route_index`` (``core/route_index.py``: FastAPI's
    own router matches instead) and ``param_analysis`` (``core/param_analysis.py``: FastAPI's
    own helpers answer)."""

    NAMES = ("route_index", "param_analysis")

    def __init__(self, app: Any) -> None:
        import fastapi.dependencies.utils as fastapi_deps

        from projekt.core import param_analysis

        self.router = app.router
        self.index = app.router.middleware_stack
        self.deps = fastapi_deps
        self.cached = {name: getattr(fastapi_deps, name) for name in param_analysis.WRAPPED}

    def set(self, name: str, on: bool) -> None:
        assert name in self.NAMES, name
        if name == "route_index":
            self.router.middleware_stack = self.index if on else self.router.app
        else:
            for attr, cached in self.cached.items():
                setattr(self.deps, attr, cached if on else cached.__wrapped__)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--n", type=int, default=1000, help="requests per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="list,get,create")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default")
    parser.add_argument("--size", type=int, default=SIZE, help="issues in the PostgreSQL database")
    parser.add_argument("--no-redis", action="store_true", help="in-process limiter")
    parser.add_argument("--no-limits", action="store_true", help="rate limiting off")
    parser.add_argument(
        "--unrecorded", action="store_true", help="the record's writes patched out (issue 16)"
    )
    parser.add_argument("--profile", help="write a cProfile of the timed calls here")
    parser.add_argument("--toggle", choices=Switches.NAMES, help="alternate off/on (A/B)")
    parser.add_argument("--off", default="", help="comma-separated: off for the whole run")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps({"cpu_us_per_request": result}))


if __name__ == "__main__":
    main()
