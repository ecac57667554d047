"""One request straight through the ASGI interface, for what an HTTP client refuses to send."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Message, Scope


async def raw_request(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("GET", path, headers)
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    """An HTTP request's scope as a server hands it on (no query string)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
