"""The app's routes as a flat table (FastAPI ≥ 0.160 keeps included routers nested)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    name: str
    in_schema: bool
    endpoint: Callable[..., Any]


def route_table(app: FastAPI) -> list[RouteInfo]:
    table = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            table.append(
                RouteInfo(
                    path=context.path or route.path,
                    methods=frozenset(route.methods or ()),
                    name=route.name,
                    in_schema=route.include_in_schema,
                    endpoint=route.endpoint,
                )
            )
    return table
