"""The MCP server at ``/mcp``: the domains' tools over Streamable HTTP, in the API's process.

Built on the official SDK's low-level ``Server``: the tool list, the input schemas (the REST
models) and the calls come from the declarations in each domain's ``tools.py``
(``projekt.mcp.registry``). Stateless and answering in JSON (no SSE stream, no session id):
every POST is self-contained, so any worker or host answers it, as for the REST API.

The request has already passed the app's middleware when it gets here: the host check,
identity and the rate limit (``AccessMiddleware``: tokens on ``/mcp`` must name the ``/mcp``
audience), the body limit. What a tool may do is decided per call by the policy rule of the
REST route it names, with the role of the credential's person in its bound org, exactly as
``authz.authorize`` decides for that route.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import mcp_types as types
import orjson
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from projekt import __version__
from projekt.authz import Rule, admit_in_org
from projekt.core import scope as asgi
from projekt.core.context import CredentialKind, OrgContext, Principal
from projekt.core.deps import AppServices, UnitOfWork, unauthorized
from projekt.core.errors import (
    AppError,
    NoRule,
    Unauthorized,
    as_app_error,
    report,
    send_error,
    translate_validation,
)
from projekt.core.ratelimit import Bucket, Key, Rate
from projekt.docs.tools import tools as doc_tools
from projekt.issues.tools import tools as issue_tools
from projekt.mcp.registry import Call, ResourceTemplate, Tool, Tools
from projekt.milestones.tools import tools as milestone_tools
from projekt.policy import LIMITS, POLICY
from projekt.projects.tools import tools as project_tools
from projekt.search.tools import tools as search_tools
from projekt.sprints.tools import tools as sprint_tools
from projekt.time_tracking.tools import tools as time_tools

if TYPE_CHECKING:
    from mcp.server.lowlevel.server import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

logger = logging.getLogger("projekt.mcp")

# Every domain's tools, in one readable list (as api.py lists the routers).
TOOLSETS: list[Tools] = [
    search_tools,
    issue_tools,
    project_tools,
    sprint_tools,
    milestone_tools,
    time_tools,
    doc_tools,
]

INSTRUCTIONS = (
    "Projekt is a project tracker. Issues have keys like WEB-12 (project key, number); their "
    "status is one of their project's columns. Start with list_projects or search_issues; "
    "people's user ids (for assignee_id) come from search_people. You act as the person who "
    "authorized this connection, with their role in one organization."
)

TRIAGE_PROMPT = (
    "Triage the backlog of project {project}. List its open issues in the first column "
    "(list_issues with its project_id and that status). For each, read it (get_issue) if the "
    "title is unclear, then propose a priority, a type and labels, and flag duplicates "
    "(search_issues). Summarize the proposals as a table and ask before changing anything; "
    "then apply the approved ones with update_issue."
)


def all_tools(toolsets: Sequence[Tools] = TOOLSETS) -> list[Tool[Any]]:
    found = [tool for toolset in toolsets for tool in toolset.tools]
    names = [tool.name for tool in found]
    if len(names) != len(set(names)):
        raise ValueError(f"two MCP tools share a name: {sorted(names)}")
    return found


def input_schema(tool: Tool[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = tool.input.model_json_schema()
    schema.setdefault("type", "object")
    schema.pop("title", None)
    return schema


class ToolError(Exception):
    """A refusal shown to the model as the tool's result (``isError``), never a protocol error:
    it can read it and correct the call (MCP: tool errors belong in the result)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class McpApp:
    """The ``/mcp`` endpoint: the caller check, then the SDK's Streamable HTTP transport."""

    def __init__(self, services: AppServices, toolsets: Sequence[Tools] = TOOLSETS) -> None:
        self.services = services
        self.tools = {tool.name: tool for tool in all_tools(toolsets)}
        self.resources: list[ResourceTemplate] = [r for t in toolsets for r in t.resources]
        for name in {t.route for t in self.tools.values()} | {r.route for r in self.resources}:
            if name not in POLICY:
                raise ValueError(f"MCP tools follow a route with no policy rule: {name}")
        settings = services.settings
        self.buckets: dict[str, Bucket] = {
            route: Bucket(limit.bucket, Rate.parse(getattr(settings, limit.setting)), limit.key)
            for route, limit in LIMITS.items()
            if route in {t.route for t in self.tools.values()}
        }
        self.listing = types.ListToolsResult(tools=[self._describe(t) for t in self.tools.values()])
        self._running: _Running | None = None  # the SDK's session manager (``_manager``)

    @cached_property
    def server(self) -> Server[Any]:
        """The SDK's server, made on the first /mcp request: importing the SDK (its client,
        tracing, schema validation) costs every worker's start a second or more, and most
        workers of an API deployment may never be asked for MCP."""
        from mcp.server.lowlevel.server import Server

        schemas = {tool.name: tool.input_schema for tool in self.listing.tools}
        server: Server[Any] = Server(
            "projekt",
            version=__version__,
            title="Projekt",
            instructions=INSTRUCTIONS,
            # Read by the transport for Mcp-Param-* headers (2026-07-28) instead of tools/list.
            get_tool_input_schema=schemas.get,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )
        # The SDK's default tracing middleware is a no-op without an exporter; it still costs
        # a span per message on the hot path.
        server.middleware = []
        return server

    # -- HTTP -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.readmit(scope)
        except Unauthorized as refused:
            await send_error(send, refused)
            return
        manager = await self._manager()
        await manager.handle_request(scope, receive, send)

    async def readmit(self, scope: Scope) -> None:
        """Only bearer credentials: a browser's cookie would let any page drive the tools.
        Also what a stored answer's replay must pass (``authz.readmit``)."""
        principal: Principal | None = asgi.principal(scope)
        if principal is None or principal.kind is CredentialKind.SESSION:
            raise unauthorized(self.services.settings, resource=self.resource)

    async def _manager(self) -> StreamableHTTPSessionManager:
        """The SDK's session manager, started on the first request and kept until ``close``.

        Stateless, it keeps nothing between requests; what it needs running is the task group
        of its ``run()``, which the 2025 protocol's requests start their server task in (the
        2026 one answers on the request's own task). Entering and leaving ``run()`` around
        every request had cost a tenth of an MCP call's CPU (a task group made and cancelled,
        its locks). A task started by a request copies that request's context. Should the
        manager's task end (an error escaped it) or the loop change (an app served by one
        event loop after another), the next request starts another. Only the requests that
        find it still starting wait, shielded: one that is cancelled must not cancel it."""
        loop = asyncio.get_running_loop()
        running = self._running
        if running is None or running.task.get_loop() is not loop or running.task.done():
            running = self._running = _Running(self, loop)
        if running.manager.done():
            return running.manager.result()
        return await asyncio.shield(running.manager)

    async def close(self) -> None:
        """Stop the session manager (the app's shutdown), and its requests' tasks with it."""
        running, self._running = self._running, None
        if running is not None and running.task.get_loop() is asyncio.get_running_loop():
            running.stop.set()
            await running.task

    @property
    def resource(self) -> str:
        return self.services.settings.mcp_resource

    # -- tools ----------------------------------------------------------------------------------

    @staticmethod
    def _describe(tool: Tool[Any]) -> types.Tool:
        return types.Tool(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=input_schema(tool),
            annotations=types.ToolAnnotations(
                title=tool.title,
                read_only_hint=tool.read_only,
                destructive_hint=tool.destructive,
                idempotent_hint=tool.idempotent,
                open_world_hint=False,
            ),
        )

    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return self.listing

    async def _call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = self.tools.get(params.name)
        if tool is None:
            raise protocol_error(f"Unknown tool: {params.name}")
        try:
            org = await self._admit(ctx, tool.route)
            try:
                args = tool.input.model_validate_json(orjson.dumps(params.arguments or {}))
            except ValidationError as exc:
                raise ToolError(_describe_error(translate_validation(exc.errors()))) from None
            result = await self._run(
                ctx, org, tool.read_only, lambda call: tool.handler(call, args)
            )
        except ToolError as refused:
            return types.CallToolResult(
                content=[types.TextContent(text=refused.message)], is_error=True
            )
        return types.CallToolResult(
            content=[types.TextContent(text=result.text)],
            structured_content=dict(result.data),
        )

    async def _admit(self, ctx: Any, route: str) -> OrgContext:
        """The route's policy rule for this caller, and the route's extra rate bucket."""
        principal: Principal | None = asgi.principal(ctx.request.scope)
        rule: Rule | None = POLICY.get(route)
        try:
            if principal is None or rule is None:
                raise NoRule()
            request_id = asgi.request_id(ctx.request.scope)
            org = admit_in_org(principal, rule, request_id)
        except AppError as error:
            raise ToolError(error.message) from None
        bucket = self.buckets.get(route)
        limiter = self.services.limiter
        if bucket is not None and limiter is not None:
            decision = await limiter.charge([(_subject(bucket, org), bucket)])
            if not decision.allowed:
                retry = decision.tightest.reset_s or 1
                raise ToolError(f"Rate limit exceeded; retry in {retry} s.")
        return org

    async def _run(self, ctx: Any, org: OrgContext, read_only: bool, work: Any) -> Any:
        """One unit of work per call, committed before the answer leaves (as a route's is)."""
        request_id = asgi.request_id(ctx.request.scope) or "-"
        uow = UnitOfWork(self.services.db, write=not read_only)
        failed = True
        try:
            result = await work(Call(uow, self.services, org))
            failed = False
        except AppError as error:
            if error.status >= 500:
                report(error, request_id)
                raise ToolError("The server could not do that right now; try again.") from None
            raise ToolError(_describe_error(error)) from None
        except Exception as exc:
            report(as_app_error(exc), request_id)
            raise ToolError("The server could not do that right now; try again.") from None
        finally:
            await uow.finish(failed=failed)
        return result

    # -- resources ------------------------------------------------------------------------------

    async def _list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def _list_resource_templates(
        self, ctx: Any, params: Any
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=r.uri_template,
                    name=r.name,
                    description=r.description,
                    mime_type=r.mime_type,
                )
                for r in self.resources
            ]
        )

    async def _read_resource(
        self, ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        template = next((r for r in self.resources if uri.startswith(r.prefix)), None)
        name = uri[len(template.prefix) :] if template else ""
        if template is None or not name or "/" in name:
            raise protocol_error(f"Unknown resource: {uri[:200]}")
        try:
            org = await self._admit(ctx, template.route)
            text = await self._run(ctx, org, True, lambda call: template.reader(call, name))
        except ToolError as refused:
            # Not found, or not yours: one answer for both (as the REST API's 404).
            raise protocol_error(refused.message) from None
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=template.mime_type, text=text)]
        )

    # -- prompts --------------------------------------------------------------------------------

    async def _list_prompts(self, ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name="triage_backlog",
                    title="Triage the backlog",
                    description="Review a project's untriaged issues and propose priorities.",
                    arguments=[
                        types.PromptArgument(
                            name="project", description="The project's key or name", required=True
                        )
                    ],
                )
            ]
        )

    async def _get_prompt(
        self, ctx: Any, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != "triage_backlog":
            raise protocol_error(f"Unknown prompt: {params.name}")
        project = (params.arguments or {}).get("project", "").strip()[:100]
        if not project:
            raise protocol_error("The project argument is required")
        return types.GetPromptResult(
            description="Triage the backlog",
            messages=[
                types.PromptMessage(
                    role="user",
                    content=types.TextContent(text=TRIAGE_PROMPT.format(project=project)),
                )
            ],
        )


class _Running:
    """The SDK's session manager inside its ``run()``, on a task of its own until ``stop``."""

    def __init__(self, app: McpApp, loop: asyncio.AbstractEventLoop) -> None:
        self.manager: asyncio.Future[StreamableHTTPSessionManager] = loop.create_future()
        self.stop = asyncio.Event()
        # A context of its own: made by the first request, it must not carry that request's
        # (its id, a dry run). Each request's own server task copies the request's context.
        self.task = loop.create_task(
            self._run(app), name="mcp-session-manager", context=contextvars.Context()
        )

    async def _run(self, app: McpApp) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        try:
            manager = StreamableHTTPSessionManager(
                app=app.server,
                json_response=True,
                stateless=True,
                max_request_body_size=app.services.settings.max_body_bytes,
            )
            async with manager.run():
                self.manager.set_result(manager)
                await self.stop.wait()
        except Exception as exc:
            if not self.manager.done():
                self.manager.set_exception(exc)
            logger.exception("the MCP session manager stopped")


def protocol_error(message: str) -> Exception:
    """A JSON-RPC error (invalid params): an unknown tool, resource or prompt."""
    from mcp.shared.exceptions import MCPError

    return MCPError(types.INVALID_PARAMS, message)


def _subject(bucket: Bucket, org: OrgContext) -> str:
    """Who a bucket counts, as the access middleware names them (so both charge one bucket)."""
    principal = org.principal
    if bucket.key is Key.PERSON:
        return f"person:{principal.user_id}"
    if bucket.key is Key.PERSON_ORG:
        return f"person:{principal.user_id}:org:{org.org_id}"
    return f"cred:{principal.credential_hash}"


def _describe_error(error: AppError) -> str:
    """An AppError as one readable text for the model: its message, code and field errors."""
    text = f"{error.message} ({error.code})"
    for name, messages in (error.errors or {}).items():
        text += f"\n- {name}: " + "; ".join(messages)
    return text


__all__ = ["TOOLSETS", "McpApp", "all_tools"]
