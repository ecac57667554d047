"""The code's shape as tests: import direction, no hidden cycles, where transactions end.

The import contracts live in pyproject.toml (``[tool.importlinter]``) and also run as
``lint-imports`` in ``make test``; docs/architecture.md explains each rule.
"""

from __future__ import annotations

import ast
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import grimp
import pytest
from importlinter.cli import lint_imports

import projekt

PACKAGE = Path(projekt.__file__).parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"

# Where a transaction may end, besides the unit of work (core/deps.py, core/db.py) and the fast
# path's own transactions (core/fastsql.py). Each is explained where it happens and in
# docs/architecture.md ("Transactions"); adding one means adding it there too.
COMMITS_ALLOWED = {"core/db.py", "core/deps.py", "core/fastsql.py"}

# Services that still build SQL themselves (every statement belongs in the repository).
# Remove a name when its statements move; never add one.
SQL_IN_SERVICES: set[str] = set()
STATEMENT_BUILDERS = {"select", "insert", "update", "delete", "text"}


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _reaches_the_root(logger: logging.Logger) -> bool:
    """Whether an INFO record of ``logger`` reaches a handler on the root."""
    seen: list[logging.LogRecord] = []

    class Catcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    catcher, level = Catcher(), logger.level
    logging.root.addHandler(catcher)
    logger.setLevel(logging.INFO)
    try:
        logger.info("a line")
    finally:
        logger.setLevel(level)
        logging.root.removeHandler(catcher)
    return len(seen) == 1


@pytest.mark.skipif(not PYPROJECT.exists(), reason="needs the source checkout")
def test_import_contracts_hold() -> None:
    """Also: the suite's loggers work after it. import-linter configures logging with
    ``dictConfig``, which disables every logger that exists by then (``projekt.access`` among
    them) for the rest of this test process: a test of the access log that ran after it in the
    same worker saw no lines. They are put back."""
    manager = logging.Logger.manager
    loggers = [x for x in manager.loggerDict.values() if isinstance(x, logging.Logger)]
    disabled = {x.name: x.disabled for x in loggers}
    root_handlers, root_level = list(logging.root.handlers), logging.root.level
    try:
        assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0
    finally:
        for x in loggers:
            x.disabled = disabled[x.name]
        logging.root.handlers[:] = root_handlers
        logging.root.setLevel(root_level)
    assert _reaches_the_root(logging.getLogger("projekt.access"))


def test_no_import_cycles() -> None:
    """A cycle hidden by a function-level import is still a cycle (orgs ↔ projects was one):
    modules import each other in one direction only."""
    graph = grimp.build_graph("projekt")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []


def test_transactions_end_only_where_documented() -> None:
    found = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
            ):
                found.add(_name(path))
    assert found <= COMMITS_ALLOWED, sorted(found - COMMITS_ALLOWED)


def test_services_build_no_sql() -> None:
    """Rules in the service, statements in the repository."""
    offenders = set()
    for path in PACKAGE.glob("*/service.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "sqlalchemy"
                and {alias.name for alias in node.names} & STATEMENT_BUILDERS
            ):
                offenders.add(_name(path))
    assert offenders <= SQL_IN_SERVICES, sorted(offenders - SQL_IN_SERVICES)


# A service is built from the request's unit of work (its session), the app's services and,
# when every method acts in one org, the org context. Work that runs on the fast path only
# takes no session at all (``IssueFastPath``), so it cannot open one; nothing takes an
# optional or union session.
SERVICE_SHAPES = {
    (("session", "AsyncSession"), ("services", "AppServices")),
    (("session", "AsyncSession"), ("services", "AppServices"), ("ctx", "OrgContext")),
    (("services", "AppServices"), ("ctx", "OrgContext")),
}


def test_every_service_is_built_the_same_way() -> None:
    shapes = {}
    for path in sorted(PACKAGE.glob("*/service.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    shape = tuple(
                        (a.arg, ast.unparse(a.annotation) if a.annotation else "")
                        for a in args.args[1:]
                    )
                    extra = args.vararg or args.kwarg or args.kwonlyargs or args.defaults
                    shapes[f"{_name(path)}: {node.name}"] = "extra" if extra else shape
    assert len(shapes) >= 12  # every domain's service: the walk found them
    odd = {name: shape for name, shape in shapes.items() if shape not in SERVICE_SHAPES}
    assert odd == {}


# Nothing reaches past a repository any more; an entry here would be a debt, written down.
REPOSITORY_REACH: set[str] = set()


def test_services_and_routers_see_no_driver_and_no_statement() -> None:
    """A service hands the repository values and gets typed rows back: no driver (asyncpg),
    no fast-path connection or transaction (``core.fastsql``), no precompiled statement (an
    upper-case name from a repository). A router imports no repository at all."""
    offenders = []
    for path in [*PACKAGE.glob("*/service.py"), *PACKAGE.glob("*/router.py")]:
        router = path.name == "router.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
                names: list[str] = []
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
                names = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "asyncpg" or module == "projekt.core.fastsql":
                    offenders.append(f"{_name(path)}: {module}")
                elif module.endswith(".repository") and (
                    router or any(n.isupper() and n != "SORT_FIELDS" for n in names)
                ):
                    offenders.append(f"{_name(path)}: {module} {names}")
    assert set(offenders) <= REPOSITORY_REACH, sorted(set(offenders) - REPOSITORY_REACH)


def _is_scope(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "scope") or (
        isinstance(node, ast.Attribute) and node.attr == "scope"
    )


def test_the_scope_state_is_read_through_its_accessor() -> None:
    """What middleware leaves in the ASGI scope is read and written through ``core/scope.py``
    (typed), never as ``scope["state"]`` / ``scope.get("state")`` lookups elsewhere."""
    offenders = set()
    for path in _sources():
        if _name(path) == "core/scope.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            key = None
            if (
                isinstance(node, ast.Subscript)
                and _is_scope(node.value)
                and isinstance(node.slice, ast.Constant)
            ):
                key = node.slice.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "setdefault")
                and _is_scope(node.func.value)
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                key = node.args[0].value
            if key == "state":
                offenders.add(f"{_name(path)}:{getattr(node, 'lineno', 0)}")
    assert offenders == set(), sorted(offenders)


# What a worker that serves only the API never loads: migrations (its parent applied them), the
# spec's YAML (rendered on the first request for it), the pages' templates (on the first page).
NOT_SERVING = {"alembic", "mako", "pygments", "yaml", "jinja2"}
# Printed by a fresh interpreter: the top-level packages it has loaded.
PRINT_LOADED = "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"


def test_a_worker_serving_the_api_loads_only_what_it_runs() -> None:
    """``serve --worker`` imports ``projekt.cli``, ``projekt.serve`` and builds the app; none of
    that may pull in Alembic (with Mako and Pygments), PyYAML or Jinja (together 4.5 MB of a
    worker's memory after start, bench/README.md). A fresh interpreter: this one has them."""
    code = (
        "import sys, projekt.cli, projekt.serve\n"
        "from projekt.config import Settings\n"
        "from projekt.main import create_app\n"
        "create_app(Settings(database_url='sqlite+aiosqlite:///:memory:'))\n"
        f"{PRINT_LOADED}\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "fastapi" in found  # the app was built
    assert NOT_SERVING.isdisjoint(found), NOT_SERVING.intersection(found)


def _serve_in_a_fresh_interpreter(stand_in: str, database_url: str) -> CompletedProcess[str]:
    """The real ``projekt serve`` (one worker) in a fresh interpreter, with the server itself
    replaced by ``stand_in``: one statement run when it would start, then exit code 0."""
    code = (
        "import sys, projekt.serve\n"
        "def stand_in(*args):\n"
        f"    {stand_in}\n"
        "    return 0\n"
        "projekt.serve.serve = stand_in\n"
        "from projekt.cli import main\n"
        "sys.exit(main(['serve']))\n"
    )
    env = {**os.environ, "PROJEKT_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_serve_migrates_in_a_child_and_serves_without_alembic(tmp_path: Path) -> None:
    """``projekt serve`` with one worker (``make run``, the bench) serves in the process that
    was started: it migrates through ``projekt migrate`` in a child, so Alembic never loads
    where the app runs (it had stayed resident: 9.4 MB, docs/decisions.md)."""
    database = tmp_path / "served.db"
    done = _serve_in_a_fresh_interpreter(PRINT_LOADED, f"sqlite+aiosqlite:///{database}")
    assert done.returncode == 0, done.stderr
    found = done.stdout.split()
    assert "projekt" in found
    assert NOT_SERVING.isdisjoint(found), NOT_SERVING.intersection(found)
    with sqlite3.connect(database) as db:  # the child did migrate it
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision


def test_serve_stops_when_the_migration_fails(tmp_path: Path) -> None:
    """The child's failure is the command's: nothing is served on a schema not at head."""
    (tmp_path / "a-file").write_text("not a directory")
    done = _serve_in_a_fresh_interpreter(
        "print('served')", f"sqlite+aiosqlite:///{tmp_path}/a-file/x.db"
    )
    assert done.returncode != 0
    assert "served" not in done.stdout
