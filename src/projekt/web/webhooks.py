"""The Webhooks section of Integraciones (its own page and template, beside the API keys'):
create (the secret shown once), pause and resume, delete, ping, the delivery log, redeliver.
Admins and owners only, as the API; it calls the same service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from projekt.core.conditional import IfMatch
from projekt.core.context import Principal, Role
from projekt.core.deps import ServicesDep, SessionDep
from projekt.core.pagination import ListQuery
from projekt.orgs.service import OrgService
from projekt.web.forms import Again, Shown, again_with, submit
from projekt.web.origin import require_same_origin
from projekt.web.pages import page
from projekt.web.router import INTEGRATIONS, WebPrincipal, current_org
from projekt.webhooks.schemas import WebhookCreate, WebhookUpdate
from projekt.webhooks.service import WebhookService

WEBHOOKS = f"{INTEGRATIONS}/webhooks"
LOG_SIZE = 20

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_same_origin)])


@router.get(WEBHOOKS)
async def web_webhooks(
    request: Request, principal: WebPrincipal, session: SessionDep, services: ServicesDep
) -> Response:
    return await _webhooks(request, principal, session, services)


async def _webhooks(
    request: Request,
    principal: Principal,
    session: SessionDep,
    services: ServicesDep,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    ctx = await current_org(request, principal, session)
    if ctx is None:
        return RedirectResponse("/app", status_code=303)
    org = await OrgService(session, services).get_org(ctx)
    if not ctx.role.at_least(Role.ADMIN):
        return page(request, "webhooks.html", 403 if status_code == 200 else status_code,
                    org=org, role=ctx.role, allowed=False, hooks=[], **extra)  # fmt: skip
    hooks = WebhookService(session, services, ctx)
    listed = []
    recent = ListQuery(
        LOG_SIZE, 0, True, (("position", True),), "-position", "", request.query_params
    )
    for read, _ in await hooks.listing():
        deliveries, total = await hooks.deliveries(read.id, recent, None)
        listed.append({"hook": read, "deliveries": deliveries, "total": total})
    return page(request, "webhooks.html", status_code, org=org, role=ctx.role, allowed=True,
                hooks=listed, **extra)  # fmt: skip


async def _service(request: Request, principal: Principal, session: SessionDep,
                   services: ServicesDep) -> tuple[WebhookService, Again]:  # fmt: skip
    """The service for an admin of the current org, and the page a refused form shows;
    anyone else is sent back to the page (which tells them why)."""
    ctx = await current_org(request, principal, session)
    if ctx is None or not ctx.role.at_least(Role.ADMIN):
        raise Shown(RedirectResponse(WEBHOOKS, status_code=303))
    again = again_with(_webhooks, request, principal, session, services)
    return WebhookService(session, services, ctx), again


@router.post(WEBHOOKS)
async def web_create_webhook(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    url: Annotated[str, Form()],
    events: Annotated[str, Form()] = "*",
    description: Annotated[str, Form()] = "",
) -> Response:
    hooks, again = await _service(request, principal, session, services)
    names = [e.strip() for e in events.replace(",", " ").split() if e.strip()]
    created, _ = await submit(
        lambda: hooks.create(
            WebhookCreate(url=url, events=names or ["*"], description=description or None)
        ),
        again,
    )
    return await _webhooks(request, principal, session, services, 201, created=created)


@router.post(WEBHOOKS + "/{webhook_id}/active")
async def web_pause_webhook(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    webhook_id: uuid.UUID,
    active: Annotated[str, Form()],
) -> Response:
    hooks, again = await _service(request, principal, session, services)
    await submit(
        lambda: hooks.update(webhook_id, WebhookUpdate(active=active == "true"), IfMatch()), again
    )
    return RedirectResponse(WEBHOOKS, status_code=303)


@router.post(WEBHOOKS + "/{webhook_id}/delete")
async def web_delete_webhook(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    webhook_id: uuid.UUID,
) -> Response:
    hooks, again = await _service(request, principal, session, services)
    await submit(lambda: hooks.delete(webhook_id, IfMatch()), again)
    return RedirectResponse(WEBHOOKS, status_code=303)


@router.post(WEBHOOKS + "/{webhook_id}/ping")
async def web_ping_webhook(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    webhook_id: uuid.UUID,
) -> Response:
    hooks, again = await _service(request, principal, session, services)
    await submit(lambda: hooks.ping(webhook_id), again)
    return RedirectResponse(WEBHOOKS, status_code=303)


@router.post(WEBHOOKS + "/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def web_redeliver_webhook(
    request: Request,
    principal: WebPrincipal,
    session: SessionDep,
    services: ServicesDep,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> Response:
    hooks, again = await _service(request, principal, session, services)
    await submit(lambda: hooks.redeliver(webhook_id, delivery_id), again)
    return RedirectResponse(WEBHOOKS, status_code=303)
