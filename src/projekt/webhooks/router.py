from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.webhooks.errors import DeliveryNotFound, WebhookNotFound
from projekt.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    ReplayQueued,
    ReplayRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)
from projekt.webhooks.service import WebhookService, delivery_etag, webhook_etag

router = APIRouter(tags=["webhooks"])
BASE = "/api/webhooks"
ONE = BASE + "/{webhook_id}"


async def get_webhook_service(
    session: SessionDep, services: ServicesDep, ctx: OrgDep
) -> WebhookService:
    return WebhookService(session, services, ctx)


WebhookServiceDep = Annotated[WebhookService, Depends(get_webhook_service)]
WebhookList = Annotated[
    ListQuery, Depends(list_params("created_at", "url", "active", default="created_at"))
]
DeliveryList = Annotated[
    ListQuery,
    Depends(
        list_params(
            "created_at", "position", "status", "attempts", "next_attempt_at", default="-position"
        )
    ),
]


def _json(body: bytes, status_code: int, etag: str, location: str | None = None) -> Response:
    headers = {"ETag": etag}
    if location is not None:
        headers["Location"] = location
    return Response(body, status_code, headers, media_type="application/json")


def _webhook(found: tuple[WebhookRead, int], status_code: int = 200) -> Response:
    read, revision = found
    response = _json(read.model_dump_json().encode(), status_code, webhook_etag(read.id, revision))
    if isinstance(read, WebhookCreated):  # the secret is in this answer only
        response.headers["Cache-Control"] = "no-store"
    return response


def _delivery(read: DeliveryRead, status_code: int = 200, *, created: bool = False) -> Response:
    location = f"{BASE}/{read.webhook_id}/deliveries/{read.id}" if created else None
    return _json(read.model_dump_json().encode(), status_code, delivery_etag(read), location)


@router.get(
    BASE,
    response_model=list[WebhookRead],
    responses=errors(*IN_ORG, *ROLE, *PAGED),
)
async def list_webhooks(webhooks: WebhookServiceDep, listed: WebhookList) -> Response:
    """The org's webhook endpoints (never their secrets)."""
    return listed.respond(*listed.page_of(read for read, _ in await webhooks.listing()))


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY),
)
async def create_webhook(body: WebhookCreate, webhooks: WebhookServiceDep) -> Response:
    """Subscribe an endpoint to events; the signing secret is in this response only."""
    created = await webhooks.create(body)
    response = _webhook(created, status.HTTP_201_CREATED)
    response.headers["Location"] = f"{BASE}/{created[0].id}"
    return response


@router.get(
    ONE,
    response_model=WebhookRead,
    responses=errors(*IN_ORG, *ROLE, WebhookNotFound, ValidationFailed),
)
async def get_webhook(webhook_id: uuid.UUID, webhooks: WebhookServiceDep) -> Response:
    """One endpoint, with why the server disabled it if it did."""
    return _webhook(await webhooks.get(webhook_id))


@router.patch(
    ONE,
    response_model=WebhookRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, WebhookNotFound, PreconditionFailed),
)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, if_match: IfMatchDep, webhooks: WebhookServiceDep
) -> Response:
    """Change the fields sent; `active: false` pauses, `true` resumes."""
    return _webhook(await webhooks.update(webhook_id, body, if_match))


@router.delete(
    ONE,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, WebhookNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def delete_webhook(
    webhook_id: uuid.UUID, if_match: IfMatchDep, webhooks: WebhookServiceDep
) -> Response:
    """Delete an endpoint and its delivery log; nothing more is sent to it."""
    await webhooks.delete(webhook_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    ONE + "/rotate-secret",
    response_model=WebhookCreated,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, WebhookNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, if_match: IfMatchDep, webhooks: WebhookServiceDep
) -> Response:
    """A new signing secret (in this response only); the old one also signs for 24 hours."""
    return _webhook(await webhooks.rotate_secret(webhook_id, if_match))


@router.post(
    ONE + "/ping",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliveryRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, WebhookNotFound, ValidationFailed),
)
async def ping_webhook(webhook_id: uuid.UUID, webhooks: WebhookServiceDep) -> Response:
    """Queue a `webhook.ping` delivery to the endpoint."""
    return _delivery(await webhooks.ping(webhook_id), status.HTTP_201_CREATED, created=True)


@router.get(
    ONE + "/deliveries",
    response_model=list[DeliveryRead],
    responses=errors(*IN_ORG, *ROLE, *PAGED, WebhookNotFound, ValidationFailed),
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    webhooks: WebhookServiceDep,
    listed: DeliveryList,
    status: DeliveryStatus | None = None,
) -> Response:
    """The delivery log, newest first: status, attempts, the last answer, the next retry."""
    return listed.respond(*await webhooks.deliveries(webhook_id, listed, status))


@router.get(
    ONE + "/deliveries/{delivery_id}",
    response_model=DeliveryRead,
    responses=errors(*IN_ORG, *ROLE, WebhookNotFound, DeliveryNotFound, ValidationFailed),
)
async def get_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, webhooks: WebhookServiceDep
) -> Response:
    """One delivery of the log."""
    return _delivery(await webhooks.delivery(webhook_id, delivery_id))


@router.post(
    ONE + "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliveryRead,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, WebhookNotFound, DeliveryNotFound, ValidationFailed
    ),
)
async def redeliver_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, webhooks: WebhookServiceDep
) -> Response:
    """Queue the delivery's event again (same `webhook-id`, same body) as a new delivery."""
    redelivery = await webhooks.redeliver(webhook_id, delivery_id)
    return _delivery(redelivery, status.HTTP_201_CREATED, created=True)


@router.post(
    ONE + "/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayQueued,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, WebhookNotFound, PreconditionFailed),
)
async def replay_webhook(
    webhook_id: uuid.UUID, body: ReplayRequest, if_match: IfMatchDep, webhooks: WebhookServiceDep
) -> ReplayQueued:
    """Queue again every subscribed event recorded since a time, oldest first."""
    return await webhooks.replay(webhook_id, body, if_match)
