"""Liveness, readiness, and the canonical OpenAPI document."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from projekt.core.deps import ServicesDep
from projekt.core.errors import DbUnavailable, RedisUnavailable
from projekt.core.responses import JSONResponse
from projekt.spec import served_spec

router = APIRouter(tags=["meta"])


@router.get("/healthz", responses={200: {"description": "The process is up."}})
async def healthz() -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", responses={503: {"description": "A backing service is unreachable."}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the database (and Redis, when configured) answer."""
    try:
        await services.db.ping()
    except Exception as exc:
        raise DbUnavailable("The database is unreachable.") from exc
    checks = {"database": "ok"}
    if services.redis is not None:
        try:
            await services.redis.ping()
        except Exception as exc:
            raise RedisUnavailable("Redis is unreachable.") from exc
        checks["redis"] = "ok"
    return JSONResponse({"status": "ok", "checks": checks})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(services: ServicesDep) -> Response:
    """Counters and gauges for Prometheus."""
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> Response:
    # Built off the event loop the first time it is asked for, then cached.
    body = await asyncio.to_thread(served_spec(request.app).json)
    return Response(body, media_type="application/json")


@router.get("/openapi.yaml", include_in_schema=False)
async def openapi_yaml(request: Request) -> Response:
    # Rendered off the event loop the first time (about a second of CPU), then cached.
    body = await asyncio.to_thread(served_spec(request.app).yaml)
    return Response(body, media_type="application/yaml")
