"""``projekt``: serve, migrate, and the admin commands CI uses to bootstrap without a browser."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from projekt.config import Settings
from projekt.core import logs
from projekt.core.context import Role
from projekt.core.errors import AppError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"projekt: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(settings, args)
    except AppError as exc:
        print(f"projekt: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except ValidationError as exc:  # an argument the API would refuse (a slug with spaces)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"projekt: {problems}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="projekt", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="command")

    serve = sub.add_parser("serve", help="apply migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed a demo org on an empty database")
    # One worker started by ``--workers N`` (see projekt.serve): no migrations, its own socket.
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(handler=_serve)

    worker = sub.add_parser(
        "worker", help="deliver webhooks (for deployments that run delivery apart from serve)"
    )
    worker.set_defaults(handler=_worker)

    migrate = sub.add_parser("migrate", help="apply pending migrations")
    migrate.add_argument("--quiet", action="store_true", help="print nothing on success")
    migrate.set_defaults(handler=_migrate)
    sub.add_parser("openapi", help="print the OpenAPI document as YAML").set_defaults(
        handler=_openapi
    )
    sub.add_parser(
        "routes", help="every route: method, path, handler, role rule, rate bucket"
    ).set_defaults(handler=_routes)

    users = sub.add_parser("users", help="manage users").add_subparsers(required=True)
    create_user = users.add_parser("create", help="create a user")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--password", help="default: read from PROJEKT_NEW_PASSWORD or stdin")
    create_user.set_defaults(handler=_create_user)

    orgs = sub.add_parser("orgs", help="manage organizations").add_subparsers(required=True)
    create_org = orgs.add_parser("create", help="create an org owned by a user")
    create_org.add_argument("--name", required=True)
    create_org.add_argument("--slug")
    create_org.add_argument("--owner", required=True, help="the owner's email")
    create_org.set_defaults(handler=_create_org)
    add_member = orgs.add_parser("add-member", help="add a user to an org")
    add_member.add_argument("--org", required=True, help="org id or slug")
    add_member.add_argument("--email", required=True)
    add_member.add_argument("--role", default="member", choices=[r.value for r in Role])
    add_member.set_defaults(handler=_add_member)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(required=True)
    mint = keys.add_parser("mint", help="mint a personal access token for a user in an org")
    mint.add_argument("--org", required=True, help="org id or slug")
    mint.add_argument("--email", required=True)
    mint.add_argument("--name", default="cli")
    mint.set_defaults(handler=_mint_key)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from projekt.serve import serve, serve_worker

    _log_to_stderr(settings)
    if args.worker:
        return serve_worker(args.host, args.port, settings)
    if failed := _upgrade_apart():
        return failed
    if args.demo:
        _run(settings, _seed_demo)
    return serve(args.host, args.port, args.workers, settings)


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGINT or SIGTERM (then give back the endpoints held)."""
    import signal

    from projekt.main import build_services
    from projekt.webhooks.delivery import Deliverer

    _log_to_stderr(settings)
    if failed := _upgrade_apart():
        return failed
    nice = lower_priority(settings.webhook_worker_nice)
    logging.getLogger("projekt.webhooks").info("worker delivering webhooks at nice %d", nice)

    async def work() -> None:
        services = build_services(settings)
        deliverer = Deliverer(services)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await deliverer.run(stop)
        finally:
            await deliverer.close()
            await services.fast.close()
            await services.db.dispose()

    asyncio.run(work())
    return 0


AUTOGROUP = Path("/proc/self/autogroup")


def autogroup_nice(path: Path = AUTOGROUP) -> int | None:
    """The nice of the scheduling autogroup in ``path`` ("/autogroup-85 nice 0"); None where
    there is none to read: no autogroups in this kernel, or a process in a cgroup of its own
    (the file is then empty)."""
    try:
        _, found, value = path.read_text().rpartition("nice")
        return int(value) if found else None
    except (OSError, ValueError):
        return None


def lower_priority(nice: int) -> int:
    """Run this process at ``nice`` at least (a process already nicer stays so); the value.

    Where Linux groups processes by session for scheduling (autogroups), it shares the CPU
    between sessions before it looks at nice values, so a worker that leads a session of its
    own (as a service, or started with ``setsid``) would keep an equal share however nice it
    is. Such a worker gives its session's group the same nice (``AUTOGROUP``); one that shares
    its session (started beside the servers from one shell) leaves the group alone, since that
    would lower the servers too."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    value = os.getpriority(os.PRIO_PROCESS, 0)
    group = autogroup_nice() if os.getsid(0) == os.getpid() else None
    if group is not None and value > group:
        with contextlib.suppress(OSError):  # no say over the group: the process's nice stands
            AUTOGROUP.write_text(str(value))
    return value


def _log_to_stderr(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    logs.install()


def _upgrade_apart() -> int:
    """``projekt migrate`` in a child process, for the commands that go on running (``serve``,
    ``worker``): Alembic, Mako and Pygments then never load in a process that serves or
    delivers. A one-worker server that had migrated itself kept them resident, 9.4 MB of its
    memory (docs/decisions.md). The child reads the same settings (the environment and
    ``.env``); its exit code is returned, 0 when the database is at the latest migration."""
    import subprocess

    argv = [sys.executable, "-m", "projekt", "migrate", "--quiet"]
    return subprocess.run(argv, check=False).returncode  # noqa: S603 (our own command)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    # Alembic (with Mako and Pygments) is imported here, not with the module: only this
    # command loads it (``serve`` and ``worker`` run it as a child, ``_upgrade_apart``).
    from projekt.core import migrate

    _log_to_stderr(settings)  # Alembic's progress, as serve showed it when it migrated itself
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line a plugin
    migrate.upgrade(settings)
    if not args.quiet:
        print("projekt: database is at the latest migration")
    return 0


def _openapi(settings: Settings, _args: argparse.Namespace) -> int:
    from projekt.main import create_app
    from projekt.spec import served_spec

    sys.stdout.write(served_spec(create_app(settings)).yaml().decode())
    return 0


def _routes(settings: Settings, _args: argparse.Namespace) -> int:
    from projekt.main import create_app

    rows = [("METHOD", "PATH", "HANDLER", "RULE", "RATE")]
    rows += route_rows(create_app(settings), settings)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


def route_rows(app: Any, settings: Settings) -> list[tuple[str, str, str, str, str]]:
    """One row per route of the app, from the one table of each route's facts: its declaration
    (method, path, handler) and ``policy.py`` (role rule and rate bucket, by route name)."""
    import inspect
    from pathlib import Path

    import projekt
    from projekt.core.routes import route_table
    from projekt.middleware.access import EXEMPT_PATHS
    from projekt.policy import LIMITS, POLICY

    root = Path(projekt.__file__).resolve().parent.parent
    rows = []
    for route in route_table(app):
        endpoint = inspect.unwrap(route.endpoint)
        source = Path(inspect.getsourcefile(endpoint) or "?").resolve()
        where = source.relative_to(root) if source.is_relative_to(root) else source
        line = inspect.getsourcelines(endpoint)[1]
        rule = POLICY.get(route.name)
        limit = LIMITS.get(route.name)
        rate = "none (probe)" if route.path in EXEMPT_PATHS else "global"
        if limit is not None:
            rate += f" + {limit.bucket} {getattr(settings, limit.setting)} per {limit.key.value}"
        rows.append(
            (
                ",".join(sorted(route.methods)),
                route.path,
                f"{where}:{line}",
                _describe_rule(rule) if rule is not None else "DENIED (no rule)",
                rate,
            )
        )
    return sorted(rows, key=lambda row: (row[1], row[0]))


def _describe_rule(rule: Any) -> str:
    from projekt.authz import Audience

    words = {
        Audience.PUBLIC: "web page (checks its session; CSRF on posts)" if rule.csrf else "public",
        Audience.USER: "signed in",
        Audience.ORG: f"org {rule.min_role.value}+",
        Audience.PATH_ORG: f"path org {rule.min_role.value}+",
    }[rule.audience]
    if rule.audience is not Audience.PUBLIC and not rule.tokens:
        words += ", sessions only"
    return words


def _run(settings: Settings, job: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    from projekt.main import build_services

    async def runner() -> Any:
        services = build_services(settings)
        try:
            async with services.db.session() as session:
                return await job(session, services, *args)
        finally:
            await services.db.dispose()

    return asyncio.run(runner())


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    import os

    password = (
        args.password or os.environ.get("PROJEKT_NEW_PASSWORD") or sys.stdin.readline().strip()
    )

    async def job(session: Any, services: Any) -> uuid.UUID:
        from projekt.auth.service import AuthService

        user = await AuthService(session, services).create_user(args.email, password, args.name)
        return user.id

    print(_run(settings, job))
    return 0


def _create_org(settings: Settings, args: argparse.Namespace) -> int:
    async def job(session: Any, services: Any) -> uuid.UUID:
        from projekt.orgs.schemas import OrgCreate
        from projekt.orgs.service import OrgService

        user = await _user_by_email(session, args.owner)
        # Without --slug the service makes one from the name, as the API does.
        chosen = {"name": args.name} | ({"slug": args.slug} if args.slug is not None else {})
        org = await OrgService(session, services).create_org(user.id, OrgCreate(**chosen))
        return org.id

    print(_run(settings, job))
    return 0


def _add_member(settings: Settings, args: argparse.Namespace) -> int:
    async def job(session: Any, services: Any) -> uuid.UUID:
        from projekt.orgs.service import OrgService

        org_id = await _org_id(session, args.org)
        user = await _user_by_email(session, args.email)
        return await OrgService(session, services).add_member(org_id, user.id, Role(args.role))

    print(_run(settings, job))
    return 0


def _mint_key(settings: Settings, args: argparse.Namespace) -> int:
    async def job(session: Any, services: Any) -> str:
        from projekt.api_keys.schemas import ApiKeyCreate
        from projekt.api_keys.service import ApiKeyService
        from projekt.orgs.service import find_membership

        org_id = await _org_id(session, args.org)
        user = await _user_by_email(session, args.email)
        found = await find_membership(session, org_id, user.id)
        if found is None:
            raise AppError(f"{args.email} is not a member of that org", code="not_a_member")
        created = await ApiKeyService(session, services).mint_for(
            org_id, user.id, found[0], ApiKeyCreate(name=args.name)
        )
        return created.token

    print(_run(settings, job))
    return 0


async def _user_by_email(session: Any, email: str) -> Any:
    from projekt.auth.repository import UserRepository
    from projekt.auth.schemas import normalize_email

    user = await UserRepository(session).by_email(normalize_email(email))
    if user is None:
        raise AppError(f"no user with email {email}", code="user_not_found")
    return user


async def _org_id(session: Any, ref: str) -> uuid.UUID:
    from sqlalchemy import select

    from projekt.orgs.models import Org

    try:
        return uuid.UUID(ref)
    except ValueError:
        pass
    org_id = (await session.execute(select(Org.id).where(Org.slug == ref))).scalar_one_or_none()
    if org_id is None:
        raise AppError(f"no org with slug {ref}", code="org_not_found")
    return uuid.UUID(str(org_id))


DEMO_EMAIL = "demo@projekt.local"


async def _seed_demo(session: Any, services: Any) -> None:
    """On an empty database only: a demo person, org and project, and one API key, printed once."""
    from sqlalchemy import func, select

    from projekt.api_keys.schemas import ApiKeyCreate
    from projekt.api_keys.service import ApiKeyService
    from projekt.auth.models import User
    from projekt.auth.service import AuthService
    from projekt.orgs.schemas import OrgCreate
    from projekt.orgs.service import OrgService, find_membership
    from projekt.projects.service import ProjectService

    if (await session.execute(select(func.count()).select_from(User))).scalar_one():
        return
    password = secrets.token_urlsafe(12)
    user = await AuthService(session, services).create_user(DEMO_EMAIL, password, "Demo User")
    org = await OrgService(session, services).create_org(
        user.id, OrgCreate(name="Demo Org", slug="demo")
    )
    project = await ProjectService(session, services).create(
        org.id, user.id, "WEB", "Website redesign", "The demo project."
    )
    found = await find_membership(session, org.id, user.id)
    assert found is not None
    key = await ApiKeyService(session, services).mint_for(
        org.id, user.id, found[0], ApiKeyCreate(name="demo")
    )
    base = services.settings.base_url
    print(
        "\n".join(
            [
                "",
                "Projekt demo data created (shown once, not stored anywhere in plaintext):",
                f"  sign in at   {base}/app/login",
                f"  email        {DEMO_EMAIL}",
                f"  password     {password}",
                f"  org id       {org.id}",
                f"  project id   {project.id}",
                f"  API key      {key.token}",
                "",
                f'  curl {base}/api/me -H "Authorization: Bearer {key.token}"',
                "",
            ]
        ),
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
