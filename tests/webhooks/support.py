"""A receiver behind httpx's MockTransport, and helpers to drive a deliverer by hand."""

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


def deliverer_for(app: FastAPI, inbox: Inbox, **kwargs: Any) -> Deliverer:
    client = httpx.AsyncClient(transport=httpx.MockTransport(inbox.handle))
    return Deliverer(app.state.services, client=client, **kwargs)


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
