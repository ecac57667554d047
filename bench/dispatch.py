"""CPU of FastAPI's per-request dispatch work alone, with and without issue 21's tables.

``python -m bench.dispatch [--n 3000]``

- matching: FastAPI's own choice of route (the app router's loop over its inclusions, and the
  chosen inclusion's ``_match`` run a second time by ``_handle_selected``, as a request does)
  against ``RouteIndex.select`` (``core/route_index.py``), for the benchmark's hot paths;
- parameters: FastAPI's ``request_params_to_args`` over every dependant of a route (what
  ``solve_dependencies`` runs per request) with FastAPI's helpers and with the remembered
  analysis (``core/param_analysis.py``).

No database is touched. Both sides run in one process, interleaved, medians of six rounds:
steadier than whole requests on a shared machine, and only the part each change touches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

SAMPLE = uuid.UUID("0193a3c0-0000-7000-8000-000000000001")


def _median_pair(n: int, a: Callable[[], Any], b: Callable[[], Any]) -> tuple[float, float]:
    times: dict[int, list[float]] = {0: [], 1: []}
    for turn in range(6):
        for side in (0, 1) if turn % 2 == 0 else (1, 0):
            run = a if side == 0 else b
            started = time.process_time()
            for _ in range(n):
                run()
            times[side].append((time.process_time() - started) / n * 1e6)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch")
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    os.environ.setdefault("PROJEKT_LOG_LEVEL", "warning")
    import fastapi.dependencies.utils as fastapi_deps
    from fastapi.routing import APIRoute, _IncludedRouter, iter_route_contexts
    from starlette.datastructures import Headers, QueryParams
    from starlette.routing import Match

    from projekt.config import Settings
    from projekt.core import param_analysis
    from projekt.core.route_index import RouteIndex
    from projekt.main import create_app

    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path, "root_path": ""}

    def linear(request: dict[str, Any]) -> Any:
        for top in app.router.routes:
            if isinstance(top, _IncludedRouter):
                if top._match(request)[0] is Match.FULL:
                    return top._match(request)[3]
            elif top.matches(request)[0] is Match.FULL:
                return top

    print("matching, CPU µs per request: FastAPI's loop / the table")
    paths = {
        "list": ("GET", "/api/issues"),
        "get": ("GET", f"/api/issues/{SAMPLE}"),
        "create": ("POST", "/api/issues"),
        "changes": ("GET", "/api/changes"),
        "doc_get": ("GET", f"/api/projects/{SAMPLE}/docs/{SAMPLE}"),
    }
    for name, (method, path) in paths.items():
        request = scope(method, path)
        before, after = _median_pair(
            args.n, lambda r=request: linear(r), lambda r=request: index.select(r)
        )
        print(f"  {name:8s} {before:7.1f} / {after:6.1f}")

    cached = {name: getattr(fastapi_deps, name) for name in param_analysis.WRAPPED}

    def helpers(remembered: bool) -> None:
        for name, wrapper in cached.items():
            setattr(fastapi_deps, name, wrapper if remembered else wrapper.__wrapped__)

    def dependants(dependant: Any) -> Iterator[Any]:
        yield dependant
        for sub in dependant.dependencies:
            yield from dependants(sub)

    contexts = {
        context.name: context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    headers = Headers({"authorization": "Bearer x", "content-type": "application/json"})
    cases = {
        "list_issues": (f"project_id={SAMPLE}&per_page=50", {}),
        "get_issue": ("", {"ref": str(SAMPLE)}),
        "create_issue": ("", {}),
    }
    print("parameters, CPU µs per request: FastAPI's helpers / remembered")
    for name, (query, path_params) in cases.items():
        every = list(dependants(contexts[name].dependant))
        query_params = QueryParams(query)

        def solve(every: list[Any] = every, query_params: Any = query_params,
                  path_params: dict[str, str] = path_params) -> None:  # fmt: skip
            for dependant in every:
                fastapi_deps.request_params_to_args(dependant.path_params, path_params)
                fastapi_deps.request_params_to_args(dependant.query_params, query_params)
                fastapi_deps.request_params_to_args(dependant.header_params, headers)
                fastapi_deps.request_params_to_args(dependant.cookie_params, {})

        before, after = _median_pair(
            args.n, lambda s=solve: (helpers(False), s()), lambda s=solve: (helpers(True), s())
        )
        helpers(True)
        print(f"  {name:13s} {before:7.1f} / {after:6.1f}")


if __name__ == "__main__":
    main()
