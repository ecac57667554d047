"""What an endpoint receives: the body of an event (from the record) or of a ping."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from projekt.core.schemas import iso_utc
from projekt.webhooks.events import PING
from projekt.webhooks.repository import RecordedEvent


def event_body(event: RecordedEvent) -> str:
    """``{id, type, occurred_at, org_id, project, data: {…resource…, changes}}``.

    ``data`` names the resource (``id``, ``resource_type``, a comment's ``issue_id``) with the
    values the event set (for a deletion, the last values), the ``changes`` as the record keeps
    them (``{field: [before, after]}``), and who made them."""
    deleted = event.type.endswith(".deleted") or event.type.endswith(".removed")
    values = {
        field: (pair[0] if deleted else pair[1])
        for field, pair in event.changes.items()
        if isinstance(pair, list) and len(pair) == 2
    }
    data: dict[str, Any] = {**values, "id": str(event.resource_id)}
    data["resource_type"] = event.resource_type
    if event.parent_id is not None:
        data["issue_id"] = str(event.parent_id)
    data["changes"] = event.changes
    data["actor"] = {
        "user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "credential_kind": event.credential_kind,
    }
    project = None
    if event.project_id is not None:
        project = {"id": str(event.project_id), "key": event.project_key,
                   "name": event.project_name}  # fmt: skip
    body = {
        "id": str(event.id),
        "type": event.type,
        "occurred_at": iso_utc(event.occurred_at),
        "org_id": str(event.org_id),
        "project": project,
        "data": data,
    }
    return orjson.dumps(body).decode()


def ping_body(ping_id: uuid.UUID, org_id: uuid.UUID, webhook_id: uuid.UUID, url: str,
              now: datetime) -> str:  # fmt: skip
    body = {
        "id": str(ping_id),
        "type": PING,
        "occurred_at": iso_utc(now),
        "org_id": str(org_id),
        "project": None,
        "data": {"webhook_id": str(webhook_id), "url": url},
    }
    return orjson.dumps(body).decode()
