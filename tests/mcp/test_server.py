"""/mcp through the SDK's own client, in-process: discovery, audiences, roles, isolation, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel
from starlette.routing import Route

from projekt.authz import Audience
from projekt.core.context import Role
from projekt.core.routes import route_table
from projekt.main import create_app
from projekt.mcp.registry import Call, Result, Tools
from projekt.mcp.server import McpApp, all_tools
from projekt.policy import POLICY
from tests.conftest import make_settings
from tests.factories import Factory
from tests.mcp.conftest import Connect, oauth_token
from tests.middleware.raw import http_scope

BASE = "http://testserver"
METADATA = f"{BASE}/.well-known/oauth-protected-resource/mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@asynccontextmanager
async def owner_at_mcp(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` (its lifespan running) for raw /mcp posts, with the PAT of a new
    org's owner."""
    factory = Factory(app)
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
    ) as http:
        yield http


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


async def test_unauthenticated_call_is_challenged_toward_the_mcp_metadata(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert answer.status_code == 401
    assert f'resource_metadata="{METADATA}"' in answer.headers["www-authenticate"]
    assert answer.json()["code"] == "unauthorized"
    metadata = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert metadata["resource"] == f"{BASE}/mcp"
    assert metadata["authorization_servers"] == [BASE]
    assert metadata["scopes_supported"] == ["api"]
    issuer = metadata["authorization_servers"][0]
    server = (await client.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
    assert server["registration_endpoint"] == f"{BASE}/oauth/register"


async def test_a_session_cookie_is_not_a_credential_at_mcp(factory: Factory) -> None:
    person = await factory.person()
    answer = await person.client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert answer.status_code == 401


async def test_tokens_answer_only_for_their_audience(
    factory: Factory, client: httpx.AsyncClient, mcp_client: Connect
) -> None:
    org = await factory.org()
    for_api = await oauth_token(client, org.owner, org, f"{BASE}/api")
    for_mcp = await oauth_token(client, org.owner, org, f"{BASE}/mcp")

    refused = await client.post(
        "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {for_api}"}
    )
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge and METADATA in challenge
    reverse = await client.get("/api/me", headers={"Authorization": f"Bearer {for_mcp}"})
    assert reverse.status_code == 401
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {for_api}"})).is_success

    async with mcp_client(for_mcp) as mcp:
        assert (await mcp.list_tools()).tools


async def test_a_refresh_keeps_the_audience_of_its_grant(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    await oauth_token(client, org.owner, org, f"{BASE}/mcp")
    # The same exchange answers invalid_target for a resource the server does not host.
    answer = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "pjo_rt_x", "resource": "https://x"},
    )
    assert answer.json()["error"] in ("invalid_target", "invalid_client")


async def test_a_pat_works_at_mcp_and_writes_are_visible_through_rest(
    factory: Factory, mcp_client: Connect
) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    token = await factory.key(org.id, member)
    async with mcp_client(token) as mcp:
        created = await mcp.call_tool(
            "create_issue",
            {"project_id": str(project.id), "title": "From an agent", "priority": "high"},
        )
    assert not created.is_error, text_of(created)
    key = created.structured_content["key"]
    assert text_of(created) == f"Created {key}: From an agent"
    async with factory.client(Authorization=f"Bearer {token}") as rest:
        issue = (await rest.get(f"/api/issues/{key}")).json()
        activity = (await rest.get(f"/api/issues/{key}/activity")).json()
    assert issue["title"] == "From an agent" and issue["priority"] == "high"
    assert issue["reporter_id"] == str(member.user_id)
    assert activity[0]["credential_kind"] == "pat"


async def test_tools_list_carries_schemas_and_hints(factory: Factory, mcp_client: Connect) -> None:
    org = await factory.org()
    async with mcp_client(await factory.key(org.id, org.owner)) as mcp:
        listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    create = listed["create_issue"]
    assert create.annotations is not None and create.annotations.read_only_hint is False
    assert create.annotations.destructive_hint is False
    assert set(create.input_schema["required"]) == {"project_id", "title"}
    assert create.input_schema["additionalProperties"] is False
    assert "priority" in create.input_schema["properties"]
    reading = listed["list_issues"].annotations
    assert reading is not None and reading.read_only_hint and reading.idempotent_hint
    assert listed["update_issue"].annotations.idempotent_hint  # type: ignore[union-attr]
    for tool in listed.values():
        assert tool.description and len(tool.description) < 400, tool.name


def test_every_tool_follows_a_policy_rule_of_its_kind(app: FastAPI) -> None:
    """A write tool must name a write route with a rule (and a read tool a read route): the
    caller's role then decides exactly as it does for that route."""
    methods: dict[str, set[str]] = {}
    for route in route_table(app):
        methods.setdefault(route.name, set()).update(route.methods)
    for tool in all_tools():
        rule = POLICY.get(tool.route)
        assert rule is not None, f"{tool.name}: no policy rule for {tool.route}"
        assert rule.audience is Audience.ORG and rule.tokens, tool.name
        writes = bool(methods[tool.route] & WRITE_METHODS)
        assert writes is not tool.read_only, f"{tool.name} follows {tool.route}"
        if not tool.read_only:
            assert rule.min_role.at_least(Role.MEMBER), tool.name


def test_a_tool_without_a_policy_rule_is_refused_at_start(app: FastAPI) -> None:
    class Empty(BaseModel):
        pass

    rogue = Tools()

    @rogue.tool("wipe", title="Wipe", route="wipe_everything", input=Empty, destructive=True)
    async def wipe(call: Call, args: Empty) -> Result:
        """Would delete everything."""
        return Result({}, "")

    with pytest.raises(ValueError, match="wipe_everything"):
        McpApp(app.state.services, [rogue])


async def test_a_viewer_reads_but_cannot_write(factory: Factory, mcp_client: Connect) -> None:
    org = await factory.org(roles=(Role.VIEWER,))
    project = await factory.project(org)
    token = await factory.key(org.id, org.members[Role.VIEWER])
    async with mcp_client(token) as mcp:
        refused = await mcp.call_tool(
            "create_issue", {"project_id": str(project.id), "title": "Not allowed"}
        )
        listed = await mcp.call_tool("list_issues", {"project_id": str(project.id)})
    assert refused.is_error
    assert "member role" in text_of(refused)
    assert not listed.is_error and listed.structured_content["total"] == 0


async def test_another_orgs_issue_is_not_reachable(factory: Factory, mcp_client: Connect) -> None:
    mine, theirs = await factory.org(), await factory.org()
    their_project = await factory.project(theirs, key="THEM")
    their_token = await factory.key(theirs.id, theirs.owner)
    async with factory.client(Authorization=f"Bearer {their_token}") as rest:
        planted = {"project_id": str(their_project.id), "title": "Secret"}
        issue = (await rest.post("/api/issues", json=planted)).json()
    sprint_id = "00000000-0000-4000-8000-000000000000"
    attempts: list[tuple[str, dict[str, Any]]] = []
    for ref in (issue["key"], issue["id"]):
        attempts += [
            ("get_issue", {"ref": ref}),
            ("update_issue", {"ref": ref, "title": "Mine now"}),
            ("transition_issue", {"ref": ref, "status": "Done"}),
            ("add_comment", {"ref": ref, "text": "hello"}),
            ("add_issue_to_sprint", {"ref": ref, "sprint_id": sprint_id}),
            ("remove_issue_from_sprint", {"ref": ref}),
        ]
    attempts += [
        ("create_issue", {"project_id": str(their_project.id), "title": "Planted"}),
        ("get_project", {"project_id": str(their_project.id)}),
        ("list_milestones", {"project_id": str(their_project.id)}),
    ]
    async with mcp_client(await factory.key(mine.id, mine.owner)) as mcp:
        for name, args in attempts:
            answer = await mcp.call_tool(name, args)
            assert answer.is_error, (name, args)
            assert "Secret" not in text_of(answer)
        for name, args in [
            ("list_issues", {"project_id": str(their_project.id)}),
            ("list_issues", {"q": "Secret"}),
            ("search_issues", {"q": "Secret"}),
            ("search_issues", {"q": issue["key"]}),
            ("list_sprints", {"project_id": str(their_project.id)}),
        ]:
            answer = await mcp.call_tool(name, args)
            assert not answer.is_error and "Secret" not in text_of(answer), (name, args)
            assert issue["id"] not in str(answer.structured_content)
        with pytest.raises(MCPError):
            await mcp.read_resource(f"projekt://issues/{issue['key']}")
    async with factory.client(Authorization=f"Bearer {their_token}") as rest:
        after = (await rest.get(f"/api/issues/{issue['key']}")).json()
    assert after["title"] == "Secret" and after["status"] == issue["status"]
    assert after["comments"] == []


async def test_invalid_input_is_a_tool_error_never_a_500(
    factory: Factory, client: httpx.AsyncClient, mcp_client: Connect
) -> None:
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    async with mcp_client(token) as mcp:
        wrong_types = await mcp.call_tool("create_issue", {"project_id": 5, "title": ""})
        unknown_field = await mcp.call_tool(
            "create_issue", {"project_id": str(project.id), "title": "x", "id": "mine"}
        )
        bad_status = await mcp.call_tool("list_issues", {"limit": 100000})
        with pytest.raises(MCPError):
            await mcp.call_tool("no_such_tool", {})
    assert wrong_types.is_error and "project_id: The project_id must be a valid UUID" in text_of(
        wrong_types
    )
    assert "title: The title must be at least 1 characters" in text_of(wrong_types)
    assert unknown_field.is_error and "The id field is not allowed" in text_of(unknown_field)
    assert bad_status.is_error and "limit" in text_of(bad_status)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    for body in (b"{not json", b"[]", b'{"jsonrpc": "2.0", "id": 1, "method": 5}'):
        raw = await client.post(
            "/mcp", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert 400 <= raw.status_code < 500 or raw.json().get("error"), raw.text


async def test_the_working_day_of_an_agent(factory: Factory, mcp_client: Connect) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    owner_rest = factory.client(Authorization=f"Bearer {await factory.key(org.id, org.owner)}")
    async with owner_rest as rest:
        plan = {"project_id": str(project.id), "name": "S1"}
        plan |= {"start_date": "2026-01-05", "end_date": "2026-01-16"}
        sprint = (await rest.post("/api/sprints", json=plan)).json()
        assert (await rest.post(f"/api/sprints/{sprint['id']}/start")).is_success
        beta = {"name": "Beta", "target_date": "2026-03-01"}
        await rest.post(f"/api/projects/{project.id}/milestones", json=beta)
    member = org.members[Role.MEMBER]
    async with mcp_client(await factory.key(org.id, member)) as mcp:
        new = {"project_id": str(project.id), "title": "Fix login"}
        key = (await mcp.call_tool("create_issue", new)).structured_content["key"]
        moved = await mcp.call_tool(
            "transition_issue", {"ref": key.lower(), "status": "in progress"}
        )
        assert moved.structured_content["status"] == "In Progress"
        commented = await mcp.call_tool("add_comment", {"ref": key, "text": "On it."})
        assert commented.structured_content["text"] == "On it."
        added = await mcp.call_tool("add_issue_to_sprint", {"ref": key, "sprint_id": sprint["id"]})
        assert added.structured_content["sprint_id"] == sprint["id"]
        active = await mcp.call_tool("active_sprints", {"project_id": str(project.id)})
        assert [s["id"] for s in active.structured_content["sprints"]] == [sprint["id"]]
        in_sprint = await mcp.call_tool("list_issues", {"sprint_id": sprint["id"]})
        assert [i["key"] for i in in_sprint.structured_content["issues"]] == [key]
        removed = await mcp.call_tool("remove_issue_from_sprint", {"ref": key})
        assert removed.structured_content["sprint_id"] is None
        updated = await mcp.call_tool(
            "update_issue", {"ref": key, "assignee_id": str(member.user_id), "labels": ["auth"]}
        )
        assert updated.structured_content["labels"] == ["auth"]
        detail = await mcp.call_tool("get_issue", {"ref": key})
        assert [c["text"] for c in detail.structured_content["comments"]] == ["On it."]
        async with factory.client(Authorization=f"Bearer {await factory.key(org.id, member)}") as c:
            assert detail.structured_content == (await c.get(f"/api/issues/{key}")).json()
        found = await mcp.call_tool("search_issues", {"q": "login"})
        assert [i["key"] for i in found.structured_content["issues"]] == [key]
        people = await mcp.call_tool("search_people", {"q": member.name})
        assert [p["user_id"] for p in people.structured_content["people"]] == [str(member.user_id)]
        projects = await mcp.call_tool("list_projects", {})
        assert [p["id"] for p in projects.structured_content["projects"]] == [str(project.id)]
        one = await mcp.call_tool("get_project", {"project_id": str(project.id)})
        assert one.structured_content["key"] == project.key
        milestones = await mcp.call_tool("list_milestones", {"project_id": str(project.id)})
        (beta,) = milestones.structured_content["milestones"]
        milestone = await mcp.call_tool(
            "get_milestone", {"project_id": str(project.id), "milestone_id": beta["id"]}
        )
        assert milestone.structured_content["name"] == "Beta"
        resource = await mcp.read_resource(f"projekt://issues/{key}")
        assert resource.contents[0].text.startswith(f"# {key}: Fix login")  # type: ignore[union-attr]
        templates = await mcp.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == ["projekt://issues/{key}"]
        prompt = await mcp.get_prompt("triage_backlog", {"project": project.key})
        assert project.key in prompt.messages[0].content.text  # type: ignore[union-attr]


async def test_the_handshake_era_protocol_is_served_too(
    factory: Factory, mcp_client: Connect
) -> None:
    """Hosts still on the 2025 protocol versions (initialize handshake) get the same tools."""
    org = await factory.org()
    async with mcp_client(await factory.key(org.id, org.owner), mode="legacy") as mcp:
        assert "create_issue" in {t.name for t in (await mcp.list_tools()).tools}
        assert not (await mcp.call_tool("list_projects", {})).is_error


async def test_a_dry_run_keeps_nothing(factory: Factory, client: httpx.AsyncClient) -> None:
    """?dry_run=true on /mcp: the tools run in full and nothing is kept (as for every write)."""
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    headers = {
        **MCP_HEADERS,
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": "2025-06-18",
    }
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {
            "name": "create_issue",
            "arguments": {"project_id": str(project.id), "title": "Dry"},
        },
    }
    answer = await client.post("/mcp?dry_run=true", json=call, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["dry-run"] == "true"
    assert answer.json()["result"]["structuredContent"]["title"] == "Dry"
    listed = await client.get(
        "/api/issues",
        params={"project_id": str(project.id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.json() == []


async def test_tools_spend_the_rate_buckets_of_their_routes(migrated: object) -> None:
    """/mcp requests count against the global budget like /api ones, and a tool spends the
    extra bucket of the route it follows (search here), the very bucket REST spends."""
    app = create_app(make_settings(rate_limit_search="2/60s"))
    async with app.router.lifespan_context(app), owner_at_mcp(app) as http:
        answers = []
        for number in range(3):
            call = {"name": "search_people", "arguments": {"q": "someone"}}
            body = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": call}
            headers = {"MCP-Protocol-Version": "2025-06-18"}
            answer = await http.post("/mcp", json=body, headers=headers)
            assert answer.status_code == 200 and "x-ratelimit-limit" in answer.headers
            answers.append(answer.json()["result"])
        rest = await http.get("/api/people/search", params={"q": "someone"})
    assert [a.get("isError", False) for a in answers] == [False, False, True]
    assert "Rate limit exceeded" in answers[2]["content"][0]["text"]
    assert rest.status_code == 429


async def test_an_agents_writes_name_its_oauth_client_in_the_record(
    factory: Factory, client: httpx.AsyncClient, mcp_client: Connect
) -> None:
    """API.md §10 MCP: a write through /mcp carries credential_kind "oauth" and the client id
    into the record, which the audit log and the issue's activity read."""
    org = await factory.org()
    project = await factory.project(org)
    token = await oauth_token(client, org.owner, org, f"{BASE}/mcp")
    async with mcp_client(token) as mcp:
        created = await mcp.call_tool(
            "create_issue", {"project_id": str(project.id), "title": "Filed by an agent"}
        )
    assert not created.is_error, text_of(created)
    key = created.structured_content["key"]
    owner = org.owner
    audit = await owner.client.get("/api/audit?type=issue.created", headers=owner.headers(org.id))
    assert audit.status_code == 200, audit.text
    (entry,) = [
        e for e in audit.json()["data"] if e["resource_id"] == created.structured_content["id"]
    ]
    actor = entry["actor"]
    assert actor["credential_kind"] == "oauth" and actor["user_id"] == str(owner.user_id)
    assert actor["oauth_client_id"] and actor["credential"]["name"] == "Agent"
    assert token not in audit.text
    activity = await owner.client.get(f"/api/issues/{key}/activity", headers=owner.headers(org.id))
    assert activity.json()[0]["credential_kind"] == "oauth"


async def test_time_tracking_tools(factory: Factory, mcp_client: Connect) -> None:
    """The time domain declares its tools beside its service; they follow its routes' rules."""
    org = await factory.org(roles=(Role.MEMBER, Role.VIEWER))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    token = await factory.key(org.id, member)
    today = datetime.now(UTC).date().isoformat()
    async with mcp_client(token) as mcp:
        logged = await mcp.call_tool(
            "log_time", {"minutes": 30, "entry_date": today, "project_id": str(project.id)}
        )
        assert not logged.is_error, text_of(logged)
        assert logged.structured_content["minutes"] == 30
        assert (await mcp.call_tool("my_timer", {})).structured_content == {"timer": None}
        started = await mcp.call_tool("start_timer", {"project_id": str(project.id)})
        assert not started.is_error, text_of(started)
        again = await mcp.call_tool("start_timer", {"project_id": str(project.id)})
        assert again.is_error and "already running" in text_of(again)
        running = await mcp.call_tool("my_timer", {})
        assert running.structured_content["timer"]["id"] == started.structured_content["id"]
        stopped = await mcp.call_tool("stop_timer", {})
        assert not stopped.is_error and stopped.structured_content["minutes"] == 1
        assert (await mcp.call_tool("stop_timer", {})).is_error
        summary = await mcp.call_tool("time_summary", {"group_by": "user"})
        assert summary.structured_content["total_minutes"] == 31
        listed = await mcp.call_tool("list_time_entries", {"project_id": str(project.id)})
        assert listed.structured_content["total"] == 2
        too_much = await mcp.call_tool(
            "log_time", {"minutes": 1440, "entry_date": today, "project_id": str(project.id)}
        )
        assert too_much.is_error and "minutes left" in text_of(too_much)
    viewer = await factory.key(org.id, org.members[Role.VIEWER])
    async with mcp_client(viewer) as mcp:
        refused = await mcp.call_tool(
            "log_time", {"minutes": 5, "entry_date": today, "project_id": str(project.id)}
        )
        assert refused.is_error
        assert not (await mcp.call_tool("time_summary", {})).is_error


async def test_docs_tools(factory: Factory, mcp_client: Connect) -> None:
    """API.md §10 names docs among the MCP tools: list, read (markdown), write and edit, by the
    docs routes' rules; a private project's docs stay with the people who see it."""
    org = await factory.org(roles=(Role.MEMBER, Role.VIEWER))
    project = await factory.project(org)
    hidden = await factory.project(org, visibility="private")
    member = await factory.key(org.id, org.members[Role.MEMBER])
    async with mcp_client(member) as mcp:
        written = await mcp.call_tool(
            "create_doc",
            {
                "project_id": str(project.id),
                "title": "Runbook",
                "markdown": "## Deploy\n\n- build\n- ship [it](https://example.com/a)",
            },
        )
        assert not written.is_error, text_of(written)
        doc = written.structured_content
        assert doc["title"] == "Runbook" and doc["version"] == 1
        read = await mcp.call_tool("get_doc", {"project_id": str(project.id), "doc_id": doc["id"]})
        assert "## Deploy" in read.structured_content["markdown"], text_of(read)
        assert "[it](https://example.com/a)" in text_of(read)
        edited = await mcp.call_tool(
            "update_doc",
            {"project_id": str(project.id), "doc_id": doc["id"], "markdown": "Shipped."},
        )
        assert not edited.is_error and edited.structured_content["version"] == 2
        listed = await mcp.call_tool("list_docs", {"project_id": str(project.id), "q": "shipped"})
        assert [d["id"] for d in listed.structured_content["docs"]] == [doc["id"]]
        private = await mcp.call_tool("list_docs", {"project_id": str(hidden.id)})
        assert private.is_error
        # Bad input is the tool's error, the REST model's message; nothing is written.
        untitled = await mcp.call_tool(
            "create_doc", {"project_id": str(project.id), "markdown": "No title"}
        )
        assert untitled.is_error and "title" in text_of(untitled)
        both = await mcp.call_tool(
            "create_doc",
            {
                "project_id": str(project.id),
                "title": "T",
                "markdown": "x",
                "blocks": {"blocks": []},
            },
        )
        assert both.is_error and "not both" in text_of(both)
        listed = await mcp.call_tool("list_docs", {"project_id": str(project.id)})
        assert listed.structured_content["total"] == 1
    viewer = await factory.key(org.id, org.members[Role.VIEWER])
    async with mcp_client(viewer) as mcp:
        refused = await mcp.call_tool(
            "create_doc", {"project_id": str(project.id), "title": "No", "markdown": "x"}
        )
        assert refused.is_error and "member role" in text_of(refused)
        assert not (await mcp.call_tool("list_docs", {"project_id": str(project.id)})).is_error
    # Another org's project and doc: not found, whatever the tool, and left as it was.
    other = await factory.org()
    stranger = await factory.key(other.id, other.owner)
    async with mcp_client(stranger) as mcp:
        ids = {"project_id": str(project.id), "doc_id": doc["id"]}
        for name, args in (
            ("list_docs", {"project_id": str(project.id)}),
            ("get_doc", ids),
            ("update_doc", {**ids, "title": "Mine now"}),
            ("create_doc", {"project_id": str(project.id), "title": "Planted", "markdown": "x"}),
        ):
            answer = await mcp.call_tool(name, args)
            assert answer.is_error, (name, text_of(answer))
            assert "Shipped" not in text_of(answer) and "Runbook" not in text_of(answer)
    async with mcp_client(member) as mcp:
        kept = await mcp.call_tool("get_doc", ids)
        assert kept.structured_content["title"] == "Runbook"
        assert kept.structured_content["version"] == 2
        assert (
            await mcp.call_tool("list_docs", {"project_id": str(project.id)})
        ).structured_content["total"] == 1


@pytest.mark.parametrize("protocol", ["2025-11-25", "2026-07-28"])
async def test_a_client_gone_mid_request_is_not_an_error(
    app: FastAPI, factory: Factory, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    # A load tool stopping mid-request: the body is cut short. The transport's own read met the
    # disconnect (with 2026-07-28 inside its task group, an "unhandled error"; before it, the
    # SDK's own error line and a 500). Nobody is left to answer, and nothing of ours failed.
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    call = {"name": "list_projects", "arguments": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})
    headers = {
        "host": "testserver",
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "content-length": str(len(body)),
        "mcp-protocol-version": protocol,
        "mcp-method": "tools/call",
        "mcp-name": "list_projects",
    }
    scope = http_scope("POST", "/mcp", [(k.encode(), v.encode()) for k, v in headers.items()])
    messages = [{"type": "http.request", "body": body[:10].encode(), "more_body": True}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    with caplog.at_level("DEBUG", logger="projekt"):
        await app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
    assert not [m for m in sent if m["type"] == "http.response.start"], sent
    assert "the client went away" in caplog.text


async def test_one_session_manager_serves_the_calls_and_stops_with_the_app(
    migrated: object,
) -> None:
    """The SDK's session manager is started by the first call and kept (not made per call); a
    manager whose task ended is replaced by the next call; the app's shutdown stops it."""
    app = create_app(make_settings())
    (route,) = [r for r in app.router.routes if isinstance(r, Route) and r.name == "mcp"]
    mcp = route.app
    assert isinstance(mcp, McpApp)

    async def calls(http: httpx.AsyncClient) -> None:
        for number, protocol in enumerate(("2025-11-25", "2026-07-28")):
            call: dict[str, Any] = {"name": "list_projects", "arguments": {}}
            if protocol == "2026-07-28":  # each request carries what a handshake used to
                call["_meta"] = {
                    "io.modelcontextprotocol/protocolVersion": protocol,
                    "io.modelcontextprotocol/clientCapabilities": {},
                }
            body = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": call}
            headers = {
                "MCP-Protocol-Version": protocol,
                "Mcp-Method": "tools/call",
                "Mcp-Name": "list_projects",
            }
            answer = await http.post("/mcp", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["isError"] is False, answer.text

    async with app.router.lifespan_context(app), owner_at_mcp(app) as http:
        await calls(http)
        first = mcp._running
        assert first is not None and not first.task.done()
        await calls(http)
        assert mcp._running is first
        first.stop.set()  # as if an error had ended its task
        await first.task
        await calls(http)
        second = mcp._running
        assert second is not None and second is not first and not second.task.done()
    assert second.task.done() and mcp._running is None


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_only_post_is_served_and_other_methods_answer_at_once(
    app: FastAPI, method: str
) -> None:
    """Stateless and answering JSON, the server has no stream to open on GET (the SDK's GET
    held the connection open, sending nothing) and no session to end on DELETE."""
    async with owner_at_mcp(app) as http:
        answer = await asyncio.wait_for(http.request(method, "/mcp"), timeout=10)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == "POST"
    assert answer.json()["code"] == "method_not_allowed"


async def test_a_keyed_call_is_replayed_to_the_token_and_not_to_a_session(
    app: FastAPI, factory: Factory
) -> None:
    """``Idempotency-Key`` on /mcp: a retry with the token replays the first answer; the
    owner's session, with the same key and body, gets what /mcp answers any cookie (401)."""
    call = {"name": "list_projects", "arguments": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
    headers = {"MCP-Protocol-Version": "2025-06-18", "Idempotency-Key": "mcp-retry-1"}
    async with owner_at_mcp(app) as http:
        first = await http.post("/mcp", json=body, headers=headers)
        again = await http.post("/mcp", json=body, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    org = await factory.org()
    owner = org.owner
    session = await owner.client.post(
        "/mcp", json=body, headers={**headers, **MCP_HEADERS, **owner.headers(org.id)}
    )
    assert session.status_code == 401 and "idempotent-replayed" not in session.headers
