"""A fake receiver behind the deliverer's ``Sender`` (answers written as httpx responses), and
helpers to drive a deliverer by hand. The real client is tested in test_sender.py and by the
reliability tests' real receivers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from projekt.webhooks.delivery import Deliverer
from projekt.webhooks.sender import Reply, SendFailed
from projekt.webhooks.targets import Target
from tests.factories import Org

_ports = itertools.count(20_000)
Answer = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


@dataclass
class Received:
    port: int
    headers: httpx.Headers
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Inbox:
    """Every request the deliverer sends, by the port of its URL (one port per endpoint).
    Ports without an answer of their own answer 200."""

    received: list[Received] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)

    def url(self) -> tuple[str, int]:
        port = next(_ports)
        return f"http://127.0.0.1:{port}/hook", port

    def at(self, port: int) -> list[Received]:
        return [r for r in self.received if r.port == port]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        port = request.url.port or 80
        self.received.append(Received(port, request.headers, request.content))
        answer = self.answers.get(port)
        if answer is None:
            return httpx.Response(200)
        result = answer(request)
        if isinstance(result, httpx.Response):
            return result
        return await result


@dataclass
class InboxSender:
    """The deliverer's sender, delivering into an ``Inbox``: what it would put on the wire
    becomes an ``httpx.Request``; an answer's ``httpx.ReadTimeout`` is a timed-out send."""

    inbox: Inbox

    async def post(
        self, key: uuid.UUID, target: Target, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        url = target.pinned_url(f"{target.scheme}://{target.host_header}{path}")
        request = httpx.Request("POST", url, headers=headers, content=body)
        try:
            response = await self.inbox.handle(request)
        except httpx.TimeoutException as exc:
            raise SendFailed("Timed out") from exc
        return Reply(response.status_code, response.headers.get("retry-after"))

    async def aclose(self) -> None:
        return None


def deliverer_for(app: FastAPI, inbox: Inbox, **kwargs: Any) -> Deliverer:
    return Deliverer(app.state.services, sender=InboxSender(inbox), **kwargs)


async def drain(deliverer: Deliverer, rounds: int = 50) -> None:
    """Tick until nothing is due (bounded)."""
    for _ in range(rounds):
        if await deliverer.tick() == 0:
            return
    raise AssertionError("the deliverer still had work after the bounded number of rounds")


async def make_webhook(org: Org, url: str, **fields: Any) -> dict[str, Any]:
    owner = org.owner
    body = {"url": url, "events": ["*"], **fields}
    response = await owner.client.post("/api/webhooks", json=body, headers=owner.headers(org.id))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def make_issue(org: Org, project_id: uuid.UUID, title: str) -> dict[str, Any]:
    owner = org.owner
    response = await owner.client.post(
        "/api/issues",
        json={"project_id": str(project_id), "title": title},
        headers=owner.headers(org.id),
    )
    assert response.status_code == 201, response.text
    issue: dict[str, Any] = response.json()
    return issue
