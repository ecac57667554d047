"""Managing endpoints: the secret shown once and sealed at rest, the SSRF guard, subscriptions,
pause and resume, rotation, the delivery log, redelivery and replay."""

from __future__ import annotations

import base64
import ipaddress
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from projekt.core.addresses import refused_address
from projekt.core.record import Event
from projekt.webhooks.models import Webhook, WebhookDelivery
from projekt.webhooks.signing import SecretBox
from projekt.webhooks.targets import TargetRefused, resolve
from tests.factories import Factory, Org
from tests.webhooks.support import make_issue, make_webhook


@pytest.fixture
async def org(factory: Factory) -> Org:
    return await factory.org()


def h(org: Org) -> dict[str, str]:
    return org.owner.headers(org.id)


async def test_the_secret_is_shown_once_and_sealed_at_rest(app: FastAPI, org: Org) -> None:
    client = org.owner.client
    created = await client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/once", "events": ["issue.created"]},
        headers=h(org),
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    one = await client.get(created.headers["location"], headers=h(org))
    assert one.status_code == 200
    assert "secret" not in one.json() and secret not in one.text
    listed = await client.get("/api/webhooks", headers=h(org))
    assert secret not in listed.text and one.json() in listed.json()
    async with app.state.services.db.read() as session:
        row = await session.get(Webhook, uuid.UUID(created.json()["id"]))
    assert row is not None
    raw = secret.removeprefix("whsec_")
    assert raw not in row.secret_sealed and secret not in row.secret_sealed
    box = SecretBox.from_settings(app.state.services.settings)
    assert box.open(row.secret_sealed, row.id) == secret
    with pytest.raises(Exception):  # noqa: B017 - bound to its row: another id does not open it
        box.open(row.secret_sealed, uuid.uuid4())


REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "ftp://93.184.215.14/hook",
    "http://user:pw@93.184.215.14/hook",
    "not a url",
]


@pytest.mark.usefixtures("strict_targets")
async def test_private_targets_are_refused_and_nothing_is_written(app: FastAPI, org: Org) -> None:
    async with app.state.services.db.read() as session:
        before = await session.scalar(select(func.count()).select_from(Webhook))
    for url in REFUSED_URLS:
        refused = await org.owner.client.post(
            "/api/webhooks", json={"url": url, "events": ["*"]}, headers=h(org)
        )
        assert refused.status_code == 422, (url, refused.text)
        assert list(refused.json()["errors"]) == ["url"], url
    async with app.state.services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Webhook)) == before


async def test_an_update_to_a_private_target_is_refused(app: FastAPI, org: Org) -> None:
    hook = await make_webhook(org, "http://127.0.0.1:9/ok")
    services = app.state.services
    relaxed = services.settings
    services.settings = relaxed.model_copy(update={"webhook_allow_private_targets": False})
    try:
        moved = await org.owner.client.patch(
            f"/api/webhooks/{hook['id']}",
            json={"url": "http://169.254.169.254/"},
            headers=h(org),
        )
    finally:
        services.settings = relaxed
    assert moved.status_code == 422, moved.text
    again = await org.owner.client.get(f"/api/webhooks/{hook['id']}", headers=h(org))
    assert again.json()["url"] == "http://127.0.0.1:9/ok"


def test_only_public_unicast_addresses_pass() -> None:
    for text in ("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                 "100.100.100.200", "::1", "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1",
                 "0.0.0.0", "255.255.255.255", "224.0.0.251", "ff02::1"):  # fmt: skip
        assert refused_address(ipaddress.ip_address(text)) is not None, text
    for text in ("93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"):
        assert refused_address(ipaddress.ip_address(text)) is None, text


async def test_https_is_required_when_the_server_is_https() -> None:
    with pytest.raises(TargetRefused, match="https"):
        await resolve("http://93.184.215.14/", require_https=True, allow_private=False)
    target = await resolve("https://93.184.215.14:8443/x", require_https=True, allow_private=False)
    assert (target.scheme, target.port) == ("https", 8443)
    assert (
        target.pinned_url("https://93.184.215.14:8443/x?a=1") == "https://93.184.215.14:8443/x?a=1"
    )


async def test_a_name_is_pinned_to_the_address_that_was_checked() -> None:
    target = await resolve("http://localhost:8123/p?q=1", require_https=False, allow_private=True)
    assert target.address.is_loopback
    assert target.host_header == "localhost:8123"
    assert target.pinned_url("http://localhost:8123/p?q=1").endswith(":8123/p?q=1")
    assert "localhost" not in target.pinned_url("http://localhost:8123/p?q=1")


@pytest.mark.parametrize(
    ("events", "ok"),
    [
        (["*"], True),
        (["issue.*", "comment.created"], True),
        (["time_entry.*"], True),
        (["issue.exploded"], False),
        (["nothing.*"], False),
        ([], False),
        (["webhook.ping"], False),
    ],
)
async def test_subscriptions_name_known_events(org: Org, events: list[str], ok: bool) -> None:
    response = await org.owner.client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/e", "events": events}, headers=h(org)
    )
    assert response.status_code == (201 if ok else 422), response.text
    if not ok:
        assert "events" in response.json()["errors"]


async def test_a_project_of_another_org_is_refused(factory: Factory, org: Org) -> None:
    other = await factory.org()
    theirs = await factory.project(other)
    refused = await org.owner.client.post(
        "/api/webhooks",
        json={"url": "http://127.0.0.1:9/p", "events": ["*"], "project_id": str(theirs.id)},
        headers=h(org),
    )
    assert refused.status_code == 422
    assert "project_id" in refused.json()["errors"]


async def test_writes_record_events_and_never_the_secret(app: FastAPI, org: Org) -> None:
    hook = await make_webhook(org, "http://127.0.0.1:9/r", description="first")
    client = org.owner.client
    path = f"/api/webhooks/{hook['id']}"
    read = await client.get(path, headers=h(org))
    paused = await client.patch(
        path, json={"active": False}, headers={**h(org), "If-Match": read.headers["etag"]}
    )
    assert paused.status_code == 200 and paused.json()["active"] is False
    rotated = await client.post(f"{path}/rotate-secret", headers=h(org))
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != hook["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert (await client.delete(path, headers=h(org))).status_code == 204
    async with app.state.services.db.read() as session:
        events = list(
            (
                await session.execute(
                    select(Event)
                    .where(Event.resource_id == uuid.UUID(hook["id"]))
                    .order_by(Event.seq)
                )
            ).scalars()
        )
    kinds = [e.type for e in events]
    assert kinds == ["webhook.created", "webhook.updated", "webhook.secret_rotated",
                     "webhook.deleted"]  # fmt: skip
    text = repr([e.changes for e in events])
    for secret in (hook["secret"], rotated.json()["secret"]):
        assert secret not in text and secret.removeprefix("whsec_") not in text
    assert events[1].changes == {"active": [True, False]}
    assert (await client.get(path, headers=h(org))).status_code == 404


async def test_the_delivery_log_lists_pages_and_filters(
    app: FastAPI, factory: Factory, org: Org
) -> None:
    hook = await make_webhook(org, "http://127.0.0.1:9/log", active=False)
    base = f"/api/webhooks/{hook['id']}"
    client = org.owner.client
    pings = [(await client.post(f"{base}/ping", headers=h(org))).json() for _ in range(3)]
    assert all(p["status"] == "pending" and p["kind"] == "ping" for p in pings)
    listed = await client.get(f"{base}/deliveries", headers=h(org))
    assert listed.headers["x-total-count"] == "3"
    assert [d["id"] for d in listed.json()] == [p["id"] for p in reversed(pings)]
    paged = await client.get(f"{base}/deliveries?limit=1&status=pending", headers=h(org))
    assert paged.json()["meta"]["total"] == 3 and len(paged.json()["data"]) == 1
    none = await client.get(f"{base}/deliveries?status=failed", headers=h(org))
    assert none.json() == []
    bad = await client.get(f"{base}/deliveries?status=lost", headers=h(org))
    assert bad.status_code == 422
    one = await client.get(f"{base}/deliveries/{pings[0]['id']}", headers=h(org))
    assert one.json() == pings[0]
    # Another endpoint's delivery is not found under this one.
    other = await make_webhook(org, "http://127.0.0.1:9/other", active=False)
    missing = await client.get(
        f"/api/webhooks/{other['id']}/deliveries/{pings[0]['id']}", headers=h(org)
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "webhook_delivery_not_found"


async def test_redeliver_and_replay_queue_the_recorded_events(
    app: FastAPI, factory: Factory, org: Org
) -> None:
    project = await factory.project(org)
    before = await make_issue(org, project.id, "before the endpoint")
    hook = await make_webhook(
        org, "http://127.0.0.1:9/replay", events=["issue.created"], active=False
    )
    after = await make_issue(org, project.id, "after")
    base = f"/api/webhooks/{hook['id']}"
    client = org.owner.client
    replayed = await client.post(
        f"{base}/replay", json={"since": "2000-01-01T00:00:00Z"}, headers=h(org)
    )
    assert replayed.status_code == 202, replayed.text
    # Only what the endpoint's cursor has passed: the event before it. The later one is
    # delivered in its own turn.
    assert replayed.json() == {"queued": 1}
    async with app.state.services.db.read() as session:
        rows = list(
            (
                await session.execute(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == uuid.UUID(hook["id"]))
                    .order_by(WebhookDelivery.position)
                )
            ).scalars()
        )
    assert [r.kind for r in rows] == ["replay"]
    payload: dict[str, Any] = __import__("orjson").loads(rows[0].payload)
    assert payload["data"]["id"] == before["id"] and payload["type"] == "issue.created"
    again = await client.post(f"{base}/deliveries/{rows[0].id}/redeliver", headers=h(org))
    assert again.status_code == 201, again.text
    assert again.json()["event_id"] == str(rows[0].event_id)
    assert again.json()["kind"] == "redelivery"
    assert again.headers["location"].endswith(f"/deliveries/{again.json()['id']}")
    future = await client.post(
        f"{base}/replay", json={"since": "2999-01-01T00:00:00Z"}, headers=h(org)
    )
    assert future.json() == {"queued": 0}
    assert after["id"] != before["id"]
