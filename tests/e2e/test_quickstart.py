"""The quickstart, done the way its readers do it: curl, and a Python script using requests.

Same requests as the public docs (mint, /me, /me/orgs, list issues, create an issue), against a
live local server; only the host differs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap

from projekt.core.context import Role
from tests.factories import Factory


async def _run(*argv: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_quickstart_with_curl(live_server: str, factory: Factory) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    project = await factory.project(org, key="WEB")
    token = await factory.key(org.id, org.members[Role.MANAGER], "Claude desktop")
    bearer = f"Authorization: Bearer {token}"

    me = json.loads(await _run("curl", "-sf", f"{live_server}/api/me", "-H", bearer))
    assert set(me) == {"id", "email", "name", "username", "locale"}

    orgs = json.loads(await _run("curl", "-sf", f"{live_server}/api/me/orgs", "-H", bearer))
    org_id = orgs["orgs"][0]["org_id"]
    assert org_id == str(org.id)
    assert orgs["orgs"][0]["projects"] == [
        {"id": str(project.id), "name": project.name, "key": "WEB"}
    ]
    org_header = f"X-Org-Id: {org_id}"

    created = json.loads(
        await _run(
            "curl", "-sf", "-X", "POST", f"{live_server}/api/issues",
            "-H", bearer, "-H", org_header, "-H", "Content-Type: application/json",
            "-d", json.dumps({
                "project_id": str(project.id),
                "title": "Investigate flaky CI test",
                "status": "Backlog",
                "priority": "medium",
                "description": "The auth e2e test fails 1 in 5 runs.",
            }),
        )
    )  # fmt: skip
    assert created["title"] == "Investigate flaky CI test"
    assert created["status"] == "Backlog"
    assert created["project_id"] == str(project.id)

    listed = json.loads(
        await _run(
            "curl", "-sf", f"{live_server}/api/issues?project_id={project.id}",
            "-H", bearer, "-H", org_header,
        )
    )  # fmt: skip
    assert isinstance(listed, list)
    assert [i["title"] for i in listed] == ["Investigate flaky CI test"]
    assert {"id", "title", "status", "priority", "assignee_id"} <= set(listed[0])


PYTHON_EXAMPLE = textwrap.dedent(
    """
    import os, requests

    TOKEN = os.environ["PROJEKT_API_KEY"]
    ORG_ID = os.environ["PROJEKT_ORG_ID"]
    BASE = os.environ["PROJEKT_BASE"]

    resp = requests.get(
        f"{BASE}/api/issues",
        params={"project_id": os.environ["PROJECT_ID"]},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Org-Id": ORG_ID},
        timeout=15,
    )
    resp.raise_for_status()
    for issue in resp.json():
        print(issue["title"])
    """
)


async def test_quickstart_python_example(live_server: str, factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org, key="WEB")
    owner = org.owner
    for title in ("First", "Second"):
        await owner.client.post(
            "/api/issues",
            json={"project_id": str(project.id), "title": title},
            headers=owner.headers(org.id),
        )
    token = await factory.key(org.id, owner)
    out = await _run(
        sys.executable,
        "-c",
        PYTHON_EXAMPLE,
        env={
            "PROJEKT_API_KEY": token,
            "PROJEKT_ORG_ID": str(org.id),
            "PROJEKT_BASE": live_server,
            "PROJECT_ID": str(project.id),
        },
    )
    assert out.split() == ["Second", "First"]
