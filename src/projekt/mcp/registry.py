"""How a domain declares what an AI agent may do through MCP, beside its service.

A domain's ``tools.py`` holds one ``Tools`` (as its ``router.py`` holds one ``APIRouter``) and
declares each tool with one decorator. A tool names the REST route whose authorization rule it
follows (``route``, a key of ``projekt.policy.POLICY``): the caller's role decides what a tool
may do exactly as it decides what that route may do. Its input is a Pydantic model (the REST
body model, or one built on it), so the schema an agent sees and the validation it meets are the
REST API's. The handler calls the domain's service and answers with a short structured result
plus a line of text for hosts that show only text.

This module knows nothing about MCP's wire types: ``projekt.mcp.server`` turns these
declarations into an MCP server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from projekt.core.context import OrgContext
from projekt.core.deps import AppServices, UnitOfWork

Args = TypeVar("Args", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call:
    """What a tool runs with: the call's unit of work, the app's services and the caller's org
    context (admitted by the route's rule, as ``OrgDep`` is for a REST route)."""

    uow: UnitOfWork
    services: AppServices
    ctx: OrgContext


@dataclass(frozen=True, slots=True)
class Result:
    """A tool's answer: ``data`` (structured content, JSON-ready) and a one-line ``text``."""

    data: Mapping[str, Any]
    text: str


@dataclass(frozen=True, slots=True)
class Tool(Generic[Args]):
    name: str
    title: str
    description: str
    route: str  # the REST route whose policy rule (and rate bucket) the tool follows
    input: type[Args]
    handler: Callable[[Call, Args], Awaitable[Result]]
    read_only: bool
    destructive: bool
    idempotent: bool


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """A readable resource family, e.g. ``projekt://issues/{key}``."""

    uri_template: str  # one ``{name}`` placeholder, at the end
    name: str
    description: str
    route: str
    mime_type: str
    reader: Callable[[Call, str], Awaitable[str]]

    @property
    def prefix(self) -> str:
        return self.uri_template.split("{", 1)[0]


@dataclass
class Tools:
    """One domain's tools and resources."""

    tools: list[Tool[Any]] = field(default_factory=list)
    resources: list[ResourceTemplate] = field(default_factory=list)

    def tool(
        self,
        name: str,
        *,
        title: str,
        route: str,
        input: type[Args],
        read_only: bool = False,
        destructive: bool = False,
        idempotent: bool = False,
    ) -> Callable[
        [Callable[[Call, Args], Awaitable[Result]]], Callable[[Call, Args], Awaitable[Result]]
    ]:
        """Declare a tool; its description is the handler's docstring (written for a model)."""

        def register(
            handler: Callable[[Call, Args], Awaitable[Result]],
        ) -> Callable[[Call, Args], Awaitable[Result]]:
            description = " ".join((handler.__doc__ or "").split())
            if not description:
                raise ValueError(f"tool {name} needs a docstring: it is its description")
            self.tools.append(
                Tool(
                    name=name,
                    title=title,
                    description=description,
                    route=route,
                    input=input,
                    handler=handler,
                    read_only=read_only,
                    destructive=destructive,
                    idempotent=idempotent or read_only,
                )
            )
            return handler

        return register

    def resource(
        self, uri_template: str, *, name: str, route: str, mime_type: str = "text/markdown"
    ) -> Callable[[Callable[[Call, str], Awaitable[str]]], Callable[[Call, str], Awaitable[str]]]:
        def register(
            reader: Callable[[Call, str], Awaitable[str]],
        ) -> Callable[[Call, str], Awaitable[str]]:
            description = " ".join((reader.__doc__ or "").split())
            self.resources.append(
                ResourceTemplate(uri_template, name, description, route, mime_type, reader)
            )
            return reader

        return register
