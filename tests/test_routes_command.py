"""``projekt routes``: every route once, with its handler, role rule and rate bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from projekt.cli import main
from projekt.core.routes import route_table
from projekt.policy import LIMITS


def test_routes_lists_every_route_once_with_its_facts(
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PROJEKT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'routes.db'}")
    assert main(["routes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = ["METHOD", "PATH", "HANDLER", "RULE", "RATE"]
    assert lines[0].split() == names
    starts = [lines[0].index(name) for name in names]
    rows = [
        [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        for line in lines[1:]
    ]
    table = route_table(app)
    assert len(rows) == len(table)
    listed = [(method, path) for method, path, *_ in rows]
    assert len(set(listed)) == len(listed), "a route listed twice"
    by_route = {(method, path): rest for method, path, *rest in rows}
    for route in table:
        handler, rule, rate = by_route[(",".join(sorted(route.methods)), route.path)]
        file, line = handler.rsplit(":", 1)
        source = Path(__file__).parents[1] / "src" / file
        # The line is the route's declaration (its decorator) in that file.
        declaration = source.read_text().splitlines()[int(line) - 1]
        assert declaration.startswith("@router."), (route.name, declaration)
        assert "DENIED" not in rule, route.name
        if route.name in LIMITS:
            assert LIMITS[route.name].bucket in rate, route.name
    assert any("sessions only" in rule for _, rule, _ in by_route.values())
