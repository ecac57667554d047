"""Delivery, driven by hand with the test clock: headers and signatures (checked with the
``standardwebhooks`` package), order, filters, retries at the backoff times, final failures,
disabling, pings, redeliveries, the send-time SSRF check, and requests never waiting on it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as Verifier

from projekt.core.record import Event
from projekt.webhooks import delivery
from projekt.webhooks.delivery import MAX_ATTEMPTS, RETRY_DELAYS, Deliverer
from projekt.webhooks.models import WebhookDelivery
from projekt.webhooks.repository import DeliveryQueue
from tests.factories import Factory, Org
from tests.support import MovableClock, count_statements
from tests.webhooks.support import Inbox, deliverer_for, drain, make_issue, make_webhook


@pytest.fixture
async def org(factory: Factory) -> Org:
    return await factory.org()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def deliverer(app: FastAPI, inbox: Inbox) -> Any:
    made = deliverer_for(app, inbox)
    await drain(made)  # what earlier tests left due is not this test's
    inbox.received.clear()
    yield made
    await made.close()


def h(org: Org) -> dict[str, str]:
    return org.owner.headers(org.id)


async def deliveries(app: FastAPI, webhook_id: str) -> list[WebhookDelivery]:
    async with app.state.services.db.read() as session:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == uuid.UUID(webhook_id))
            .order_by(WebhookDelivery.position)
        )
        return list((await session.execute(stmt)).scalars())


async def test_a_delivery_is_signed_and_shaped_as_standard_webhooks(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url)
    issue = await make_issue(org, project.id, "Signed")
    await drain(deliverer)
    [got] = inbox.at(port)
    async with app.state.services.db.read() as session:
        event = (
            await session.execute(select(Event).where(Event.resource_id == uuid.UUID(issue["id"])))
        ).scalar_one()
    # webhook-id is the record's event id; the package's verification accepts the signature.
    assert got.webhook_id == str(event.id)
    assert got.headers["x-projekt-event"] == "issue.created"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["host"] == f"127.0.0.1:{port}"
    verified = Verifier(hook["secret"]).verify(got.body, dict(got.headers))
    assert verified == got.json
    with pytest.raises(Exception):  # noqa: B017 - another secret does not verify
        Verifier("whsec_" + "A" * 43 + "=").verify(got.body, dict(got.headers))
    body = got.json
    assert set(body) == {"id", "type", "occurred_at", "org_id", "project", "data"}
    assert (body["id"], body["type"], body["org_id"]) == (
        str(event.id),
        "issue.created",
        str(org.id),
    )
    assert body["project"] == {"id": str(project.id), "key": project.key, "name": project.name}
    assert body["data"]["id"] == issue["id"] and body["data"]["title"] == "Signed"
    assert body["data"]["changes"]["title"] == [None, "Signed"]
    assert body["data"]["actor"]["user_id"] == str(org.owner.user_id)
    [row] = await deliveries(app, hook["id"])
    assert (row.status, row.attempts, row.response_status) == ("succeeded", 1, 200)


async def test_a_rotation_signs_with_both_secrets_for_24_hours(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer,
    time_travel: MovableClock,
) -> None:  # fmt: skip
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url)
    rotated = await org.owner.client.post(
        f"/api/webhooks/{hook['id']}/rotate-secret", headers=h(org)
    )
    new = rotated.json()["secret"]
    await make_issue(org, project.id, "During the overlap")
    await drain(deliverer)
    [during] = inbox.at(port)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (hook["secret"], new):
        Verifier(secret).verify(during.body, dict(during.headers))
    time_travel.advance(timedelta(hours=24, minutes=1))
    await make_issue(org, project.id, "After the overlap")
    await drain(deliverer)
    after = inbox.at(port)[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    # The receiver checks the timestamp against real time: the clock was moved, so check the
    # signature with plain HMAC here (docs/webhooks.md shows both ways).
    import base64
    import hashlib
    import hmac

    key = base64.b64decode(new.removeprefix("whsec_"))
    signed = f"{after.webhook_id}.{after.headers['webhook-timestamp']}.".encode() + after.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert after.headers["webhook-signature"] == f"v1,{expected}"


async def test_an_endpoint_gets_its_projects_subscribed_events_in_record_order(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    mine, other = await factory.project(org), await factory.project(org)
    url, port = inbox.url()
    await make_webhook(org, url, events=["issue.created", "comment.*"], project_id=str(mine.id))
    created = []
    for n in range(6):
        created.append(await make_issue(org, (mine if n % 2 == 0 else other).id, f"I{n}"))
        if n == 2:
            await org.owner.client.post(
                f"/api/issues/{created[0]['id']}/comments", json={"text": "c"}, headers=h(org)
            )
    await org.owner.client.patch(
        f"/api/issues/{created[0]['id']}", json={"title": "renamed"}, headers=h(org)
    )
    await drain(deliverer)
    got = [(r.json["type"], r.json["data"]["id"]) for r in inbox.at(port)]
    assert [t for t, _ in got] == ["issue.created", "issue.created", "comment.created",
                                   "issue.created"]  # fmt: skip
    assert [i for t, i in got if t == "issue.created"] == [created[n]["id"] for n in (0, 2, 4)]


async def test_a_failing_receiver_gets_every_event_at_the_backoff_times_in_order(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer,
    time_travel: MovableClock,
) -> None:  # fmt: skip
    """Issue 18: the receiver answers 500 for a while, then 200; every event arrives once it
    recovers, each retry at its backoff time (moved by the test clock), in order."""
    project = await factory.project(org)
    url, port = inbox.url()
    failing = {"left": 4}

    def answer(request: httpx.Request) -> httpx.Response:
        if failing["left"] > 0:
            failing["left"] -= 1
            return httpx.Response(500)
        return httpx.Response(204)

    inbox.answers[port] = answer
    hook = await make_webhook(org, url, events=["issue.created"])
    titles = [f"E{n}" for n in range(5)]
    for title in titles:
        await make_issue(org, project.id, title)
    await drain(deliverer)
    assert len(inbox.at(port)) == 1  # the first failed; the rest wait behind it
    for attempt in range(1, 5):
        [head, *rest] = await deliveries(app, hook["id"])
        assert (head.status, head.attempts) == ("pending", attempt)
        assert all(r.attempts == 0 for r in rest)
        assert head.next_attempt_at and head.last_attempt_at
        wait = head.next_attempt_at - head.last_attempt_at
        base = RETRY_DELAYS[attempt - 1]
        assert base * 0.9 <= wait <= base * 1.1  # the schedule, with its jitter
        # Just before the retry time nothing is sent; at it, the retry goes out.
        time_travel.advance(wait - timedelta(seconds=2))
        await drain(deliverer)
        assert len(inbox.at(port)) == attempt
        time_travel.advance(timedelta(seconds=3))
        await drain(deliverer)
    got = inbox.at(port)
    assert len(got) == 4 + 5
    ids = [r.webhook_id for r in got]
    assert len(set(ids[:5])) == 1  # the same webhook-id on every attempt
    firsts = list(dict.fromkeys(ids))
    assert [r.json["data"]["title"] for r in got[4:]] == titles
    assert firsts == [r.webhook_id for r in got[4:]]
    rows = await deliveries(app, hook["id"])
    assert [(r.status, r.attempts) for r in rows] == [("succeeded", 5)] + [("succeeded", 1)] * 4
    assert rows[0].response_status == 204
    again = await org.owner.client.get(f"/api/webhooks/{hook['id']}", headers=h(org))
    assert again.json()["failing_since"] is None


async def test_retry_after_is_honoured_and_4xx_are_retried(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    """API.md §10: anything but a 2xx is retried on the schedule, a 4xx too."""
    project = await factory.project(org)
    url, port = inbox.url()
    answers = iter([httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(410)])
    inbox.answers[port] = lambda request: next(answers, httpx.Response(200))
    hook = await make_webhook(org, url, events=["issue.created"])
    await make_issue(org, project.id, "limited")
    await drain(deliverer)
    [limited] = await deliveries(app, hook["id"])
    assert limited.next_attempt_at and limited.last_attempt_at
    assert limited.next_attempt_at - limited.last_attempt_at >= timedelta(seconds=3600)
    assert (limited.status, limited.response_status) == ("pending", 429)
    url2, port2 = inbox.url()
    inbox.answers[port2] = lambda request: httpx.Response(410)
    gone = await make_webhook(org, url2, events=["issue.created"])
    await make_issue(org, project.id, "gone")
    await make_issue(org, project.id, "next")
    await drain(deliverer)
    first, second = await deliveries(app, gone["id"])
    # 410 waits for its retry at the schedule's first step; the next delivery waits behind it.
    assert (first.status, first.attempts, first.response_status) == ("pending", 1, 410)
    assert first.last_error == "HTTP 410"
    assert first.next_attempt_at and first.last_attempt_at
    wait = first.next_attempt_at - first.last_attempt_at
    assert RETRY_DELAYS[0] * 0.9 <= wait <= RETRY_DELAYS[0] * 1.1
    assert (second.status, second.attempts) == ("pending", 0)


async def test_redirects_are_not_followed_and_timeouts_are_retried(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    inbox.answers[port] = lambda r: httpx.Response(302, headers={"Location": "http://10.0.0.1/"})
    moved = await make_webhook(org, url, events=["issue.created"])
    url2, port2 = inbox.url()

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    inbox.answers[port2] = hang
    slow = await make_webhook(org, url2, events=["issue.created"])
    await make_issue(org, project.id, "x")
    await drain(deliverer)
    [redirected] = await deliveries(app, moved["id"])
    assert (redirected.status, redirected.response_status) == ("pending", 302)  # retried
    assert "redirects are not followed" in (redirected.last_error or "")
    assert len(inbox.at(port)) == 1  # 10.0.0.1 was never asked
    [timed_out] = await deliveries(app, slow["id"])
    assert (timed_out.status, timed_out.attempts, timed_out.last_error) == (
        "pending",
        1,
        "Timed out",
    )


async def test_the_whole_attempt_is_bounded_by_the_timeout(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox
) -> None:
    services = app.state.services
    relaxed = services.settings
    services.settings = relaxed.model_copy(update={"webhook_timeout_s": 0.2})
    made = deliverer_for(app, inbox)
    await drain(made)
    never = asyncio.Event()
    try:
        project = await factory.project(org)
        url, port = inbox.url()

        async def stall(request: httpx.Request) -> httpx.Response:
            await never.wait()  # a receiver that never answers
            return httpx.Response(200)

        inbox.answers[port] = stall
        hook = await make_webhook(org, url, events=["issue.created"])
        await make_issue(org, project.id, "stalled")
        await drain(made)
    finally:
        services.settings = relaxed
        await made.close()
    [row] = await deliveries(app, hook["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "No answer within 0.2 s"


async def test_the_last_failure_is_final_and_three_days_of_failures_disable(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer,
    time_travel: MovableClock,
) -> None:  # fmt: skip
    project = await factory.project(org)
    url, port = inbox.url()
    inbox.answers[port] = lambda request: httpx.Response(503)
    hook = await make_webhook(org, url, events=["issue.created"])
    for title in ("doomed", "second", "third"):
        await make_issue(org, project.id, title)
    await drain(deliverer)
    start = time_travel.now()
    for _ in range(3 * MAX_ATTEMPTS):  # each retry at its time, until the endpoint is disabled
        pending = [r for r in await deliveries(app, hook["id"]) if r.status == "pending"]
        read = await org.owner.client.get(f"/api/webhooks/{hook['id']}", headers=h(org))
        if not read.json()["active"]:
            break
        assert pending[0].next_attempt_at is not None
        time_travel.advance(pending[0].next_attempt_at - time_travel.now() + timedelta(seconds=1))
        await drain(deliverer)
    first, second, third = await deliveries(app, hook["id"])
    # The first one failed for good after its last retry (about 41 h after it started).
    assert (first.status, first.attempts) == ("failed", MAX_ATTEMPTS)
    assert first.completed_at is not None
    assert timedelta(hours=37) < first.completed_at - start < timedelta(hours=46)
    # The next one's attempts ran into the 3-day limit: the endpoint is disabled, with why.
    read = (await org.owner.client.get(f"/api/webhooks/{hook['id']}", headers=h(org))).json()
    assert read["active"] is False
    assert "every delivery failed for 72 hours" in read["disabled_reason"]
    assert "HTTP 503" in read["disabled_reason"]
    assert second.attempts >= 1 and (third.status, third.attempts) == ("pending", 0)
    sent = len(inbox.at(port))
    time_travel.advance(timedelta(days=2))
    await drain(deliverer)
    assert len(inbox.at(port)) == sent  # disabled: nothing more is sent
    async with app.state.services.db.read() as session:
        kinds = list(
            (
                await session.execute(
                    select(Event.type, Event.credential_kind).where(
                        Event.resource_id == uuid.UUID(hook["id"]), Event.type == "webhook.disabled"
                    )
                )
            ).all()
        )
    assert kinds == [("webhook.disabled", "system")]
    # Resuming clears the reason and sends what waits.
    inbox.answers[port] = lambda request: httpx.Response(200)
    resumed = await org.owner.client.patch(
        f"/api/webhooks/{hook['id']}", json={"active": True}, headers=h(org)
    )
    assert resumed.json()["disabled_reason"] is None and resumed.json()["failing_since"] is None
    await drain(deliverer)
    assert (await deliveries(app, hook["id"]))[2].status == "succeeded"


async def test_ping_and_redeliver_send_in_turn_with_a_stable_id(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url, events=["issue.created"])
    base = f"/api/webhooks/{hook['id']}"
    ping = (await org.owner.client.post(f"{base}/ping", headers=h(org))).json()
    await make_issue(org, project.id, "after the ping")
    await drain(deliverer)
    first, second = inbox.at(port)
    assert first.json["type"] == "webhook.ping" and first.webhook_id == ping["event_id"]
    assert first.json["data"] == {"webhook_id": hook["id"], "url": url}
    Verifier(hook["secret"]).verify(first.body, dict(first.headers))
    issue_delivery = (await deliveries(app, hook["id"]))[1]
    again = await org.owner.client.post(
        f"{base}/deliveries/{issue_delivery.id}/redeliver", headers=h(org)
    )
    await drain(deliverer)
    third = inbox.at(port)[2]
    assert third.webhook_id == second.webhook_id and third.body == second.body
    log = (await org.owner.client.get(f"{base}/deliveries", headers=h(org))).json()
    assert [d["kind"] for d in log] == ["redelivery", "event", "ping"]
    assert log[0]["id"] == again.json()["id"] and log[0]["status"] == "succeeded"


async def test_the_guard_runs_again_at_send_time(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url, events=["issue.created"])
    services = app.state.services
    relaxed = services.settings
    services.settings = relaxed.model_copy(update={"webhook_allow_private_targets": False})
    strict = deliverer_for(app, inbox)
    try:
        await make_issue(org, project.id, "now private")
        for _ in range(5):
            if await strict.tick() == 0:
                break
    finally:
        services.settings = relaxed
        await strict.close()
    assert inbox.at(port) == []
    [row] = await deliveries(app, hook["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert "loopback" in (row.last_error or "")


async def test_a_slow_receiver_never_holds_up_requests(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return httpx.Response(200)

    inbox.answers[port] = stuck
    hook = await make_webhook(org, url, events=["issue.*"])
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    try:
        await make_issue(org, project.id, "first")
        await asyncio.wait_for(arrived.wait(), 30)
        # The receiver holds the delivery; the API keeps answering writes and reads.
        for n in range(5):
            await make_issue(org, project.id, f"meanwhile {n}")
        listed = await org.owner.client.get(f"/api/issues?project_id={project.id}", headers=h(org))
        assert listed.status_code == 200 and len(listed.json()) == 6
        assert not release.is_set() and len(inbox.at(port)) == 1
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(running, 30)
    await drain(deliverer)
    # Stopping may cut the held send short: it goes again, with the same webhook-id.
    ids = [r.webhook_id for r in inbox.at(port)]
    assert len(set(ids)) == 6 and len(ids) <= 7
    assert all(r.status == "succeeded" for r in await deliveries(app, hook["id"]))


def _python_blocks() -> list[str]:
    from pathlib import Path

    pages = Path(__file__).parents[2] / "src" / "projekt" / "developers" / "pages"
    text = (pages / "webhooks.md").read_text()
    blocks = text.split("```python receiver\n")[1:]
    return [block.split("```", 1)[0] for block in blocks]


async def test_the_receiver_checks_in_the_docs_accept_a_delivery_and_refuse_a_forgery(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url)
    await make_issue(org, project.id, "documented")
    await drain(deliverer)
    [got] = inbox.at(port)
    headers = dict(got.headers)
    forged = got.body.replace(b"documented", b"forged")
    package, plain = _python_blocks()
    scope: dict[str, Any] = {"SECRET": hook["secret"]}
    exec(package, scope)  # the documentation's own code
    assert scope["handle"](got.body, headers) == got.json
    with pytest.raises(Exception):  # noqa: B017
        scope["handle"](forged, headers)
    scope = {"SECRET": hook["secret"]}
    exec(plain, scope)
    assert scope["verified"](got.body, headers) is True
    assert scope["verified"](forged, headers) is False


async def test_finished_deliveries_are_pruned_after_the_retention_in_bounded_batches(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer,
    time_travel: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Succeeded and failed deliveries go once they are older than the retention (30 days by
    default); younger ones and pending ones stay; a pass deletes in bounded batches."""
    assert app.state.services.settings.webhook_delivery_retention_days == 30
    project = await factory.project(org)
    url, port = inbox.url()
    inbox.answers[port] = lambda r: httpx.Response(410 if b"refused" in r.content else 200)
    done = await make_webhook(org, url, events=["issue.created"])
    await make_issue(org, project.id, "delivered")
    await make_issue(org, project.id, "refused")
    await drain(deliverer)
    for _ in range(MAX_ATTEMPTS):  # "refused" retried at each step until it fails (~41 h)
        pending = [r for r in await deliveries(app, done["id"]) if r.status == "pending"]
        if not pending:
            break
        assert pending[0].next_attempt_at is not None
        time_travel.advance(pending[0].next_attempt_at - time_travel.now() + timedelta(seconds=1))
        await drain(deliverer)
    url2, port2 = inbox.url()
    inbox.answers[port2] = lambda r: httpx.Response(503)
    waiting = await make_webhook(org, url2, events=["issue.created"])
    await make_issue(org, project.id, "held")
    await drain(deliverer)
    time_travel.advance(timedelta(days=20))
    await make_issue(org, project.id, "recent")
    await drain(deliverer)
    before = [(r.status, r.payload) for r in await deliveries(app, done["id"])]
    assert [s for s, _ in before] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert {r.status for r in await deliveries(app, waiting["id"])} == {"pending"}
    # 31 days after the first three finished (11 after the last): one row per batch, one
    # batch per pass; a pass that is cut short leaves the next one due at once.
    time_travel.advance(timedelta(days=11))
    monkeypatch.setattr(delivery, "PRUNE_BATCH", 1)
    monkeypatch.setattr(delivery, "PRUNE_ROUNDS", 1)
    assert await deliverer.prune_when_due() == 1
    assert deliverer.next_prune_at is not None and deliverer.next_prune_at <= time_travel.now()
    for _ in range(200):  # other tests' old rows go too; bounded
        if await deliverer.prune_when_due() == 0:
            break
    kept = await deliveries(app, done["id"])
    assert [(r.status, r.payload) for r in kept] == [before[3]]
    # (the failing endpoint was paused at its retry 20 days on: "recent" was never queued)
    assert [r.status for r in await deliveries(app, waiting["id"])] == ["pending"]
    # After a pass that caught up, the next one waits PRUNE_EVERY.
    assert deliverer.next_prune_at is not None
    assert deliverer.next_prune_at - time_travel.now() > delivery.PRUNE_EVERY - timedelta(minutes=1)


async def test_no_retention_keeps_every_delivery(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, time_travel: MovableClock
) -> None:
    services = app.state.services
    relaxed = services.settings
    services.settings = relaxed.model_copy(update={"webhook_delivery_retention_days": None})
    made = deliverer_for(app, inbox)
    try:
        project = await factory.project(org)
        url, _ = inbox.url()
        hook = await make_webhook(org, url, events=["issue.created"])
        await make_issue(org, project.id, "kept")
        await drain(made)
        time_travel.advance(timedelta(days=400))
        assert await made.prune_when_due() == 0
    finally:
        services.settings = relaxed
        await made.close()
    assert [r.status for r in await deliveries(app, hook["id"])] == ["succeeded"]


async def test_an_endpoint_paused_while_served_is_served_at_once_when_resumed(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    """The worker that held it lets go of its lease when it finds it paused: a resume does not
    wait for the lease to run out."""
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url, events=["issue.created"])
    path = f"/api/webhooks/{hook['id']}"

    async def pause_on_first(request: httpx.Request) -> httpx.Response:
        if len(inbox.at(port)) == 1:
            paused = await org.owner.client.patch(path, json={"active": False}, headers=h(org))
            assert paused.status_code == 200
        return httpx.Response(200)

    inbox.answers[port] = pause_on_first
    for title in ("first", "second"):
        await make_issue(org, project.id, title)
    await drain(deliverer)
    assert len(inbox.at(port)) == 2  # the turn's sends went out; then it was paused
    await make_issue(org, project.id, "while paused")
    await drain(deliverer)
    assert len(inbox.at(port)) == 2
    resumed = await org.owner.client.patch(path, json={"active": True}, headers=h(org))
    assert resumed.status_code == 200
    await drain(deliverer)
    assert [r.json["data"]["title"] for r in inbox.at(port)] == ["first", "second", "while paused"]


async def test_an_endpoint_that_caught_up_rests_for_a_poll(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    """Under a trickle of events a caught-up endpoint is not served again at once (a turn per
    event or two, and a project's endpoint woken by every event of its org): ``run`` leaves
    it out of its looks for ``webhook_poll_s``, then sends what came meanwhile in one turn.
    ``tick`` (what the other tests drive) rests nothing."""
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url, events=["issue.*"])
    hook_id = uuid.UUID(hook["id"])
    await make_issue(org, project.id, "first")
    assert await deliverer._claim(8) == [hook_id]
    await deliverer.serve(hook_id)
    assert len(inbox.at(port)) == 1
    rests_until = time.monotonic() + deliverer.settings.webhook_poll_s
    assert deliverer.resting[hook_id] == pytest.approx(rests_until, abs=0.5)

    for n in range(3):
        await make_issue(org, project.id, f"meanwhile {n}")
    # Due (events past its cursor), but resting: a look of `run` leaves it alone.
    assert await deliverer._claim(8, skip=list(deliverer.resting)) == []
    deliverer.resting.clear()  # the poll has passed
    turns = 0
    hold = DeliveryQueue.hold

    async def counting(self: Any, *args: Any) -> Any:
        nonlocal turns
        turns += 1
        return await hold(self, *args)

    assert await deliverer._claim(8, skip=[]) == [hook_id]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DeliveryQueue, "hold", counting)
        await deliverer.serve(hook_id)
    assert [r.json["data"]["title"] for r in inbox.at(port)[1:]] == [
        f"meanwhile {n}" for n in range(3)
    ]
    assert turns == 2  # one turn queues and sends all three, one writes their results


async def test_a_look_for_work_is_one_statement_and_leases_what_it_finds(
    app: FastAPI, factory: Factory, org: Org, inbox: Inbox, deliverer: Deliverer
) -> None:
    """Every worker looks every ``webhook_poll_s``, mostly finding nothing. On PostgreSQL a
    look is one statement that leases what it finds; on SQLite an idle look only reads (the
    database's one write lock stays free). Another worker's look skips what is leased."""
    postgres = app.state.services.fast.postgres

    def no_session(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a look on PostgreSQL opens no session (BEGIN, ping, COMMIT)")

    with count_statements(app) as idle, pytest.MonkeyPatch.context() as patch:
        if postgres:
            patch.setattr(app.state.services.db, "session", no_session)
        assert await deliverer._claim(8) == []
    if postgres:
        assert len(idle) == 1, idle
    else:
        assert idle and all(sql.lstrip().upper().startswith("SELECT") for sql in idle), idle
    project = await factory.project(org)
    url, port = inbox.url()
    hook = await make_webhook(org, url, events=["issue.created"])
    await make_issue(org, project.id, "due")
    other = deliverer_for(app, inbox)
    with count_statements(app) as found:
        assert await deliverer._claim(8) == [uuid.UUID(hook["id"])]
    if postgres:
        assert len(found) == 1, found
    assert await other._claim(8) == []
    await deliverer.serve(uuid.UUID(hook["id"]))
    assert [r.json["data"]["title"] for r in inbox.at(port)] == ["due"]
