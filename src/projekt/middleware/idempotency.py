"""``Idempotency-Key`` on every write (API.md §9), with Stripe's semantics, for every route.

The first request with a key claims it (atomically, in the store every worker shares), runs,
and its answer (status, ``Location``, ``ETag``, ``Content-Type``, body) is stored before a byte
of it is sent: a client that dropped the connection and retries gets that answer back with
``Idempotent-Replayed: true``, and nothing runs twice. The same key with another method, path,
query or body is 422 ``idempotency_key_reused``; while the first still runs, 409
``idempotency_key_in_use``. A stored answer, and the key's state, reach only a caller the
route's rule admits at that moment (``authz.readmit``): the same user with a credential the
route refuses (a PAT on a key-minting route), or after leaving the org, gets the route's
refusal. A 5xx, a refusal decided before the endpoint ran (``NOT_RUN``), or a request that
never answered releases the key so the client may retry. Keys belong to
(the credential's user, the org in effect, the key); routes anyone may call (sign-up, sign-in,
the OAuth endpoints) have no user to scope them by and are left alone, as are dry runs
(``?dry_run=true``), which keep nothing. Without the header
nothing here costs more than one scan of the headers of a write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core import scope as asgi
from projekt.core.clock import Clock
from projekt.core.context import Principal
from projekt.core.dry_run import dry_running
from projekt.core.errors import (
    AppError,
    BadIdempotencyKey,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    send_error,
)
from projekt.core.idempotency import Answer, Claim, IdempotencyStore, Sealed
from projekt.middleware.bodies import read_body, replaying
from projekt.middleware.edge import send_refusal

logger = logging.getLogger("projekt.idempotency")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
# What a replay carries besides status and body (API.md §9: the headers that matter).
KEPT_HEADERS = frozenset({b"location", b"etag", b"content-type"})
MAX_KEY = 255
# Refusals decided before the endpoint ran (the request itself was wrong: malformed, not
# authorized, validation, a precondition, a limit): as at Stripe, nothing is kept, so the
# corrected request may reuse the key. What the endpoint decided (2xx, 409 and the like) is kept.
NOT_RUN = frozenset({400, 401, 403, 404, 405, 406, 412, 413, 415, 422, 428, 429, 431})


def bad_key() -> BadIdempotencyKey:
    return BadIdempotencyKey(f"Idempotency-Key must be 1 to {MAX_KEY} printable ASCII characters.")


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: IdempotencyStore,
        clock: Clock,
        ttl: timedelta,
        lease: timedelta,
        public: Sequence[tuple[frozenset[str], re.Pattern[str]]],
        admit: Callable[[Scope, Receive], Awaitable[None]],
    ) -> None:
        self.app = app
        self.admit = admit  # raises the route's refusal for a caller it would not admit now
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.lease = lease
        self.public = public  # routes without a caller to scope a key by; filled at start-up
        self._public_by_method: dict[str, re.Pattern[str] | None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        keys = [value for name, value in scope["headers"] if name == HEADER]
        if not keys:
            await self.app(scope, receive, send)
            return
        key = keys[0]
        if any(k != key for k in keys) or not _valid(key):
            await send_refusal(scope, send, bad_key())
            return
        principal: Principal | None = asgi.principal(scope)
        # A dry run (``core.dry_run``) keeps nothing, its key included: the real request
        # that follows it with the same key must run.
        if principal is None or dry_running() or self._is_public(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive)
        owner = f"{principal.user_id}\0{principal.org_id or '-'}".encode()
        request = b"\0".join(
            (scope["method"].encode(), scope["path"].encode(), scope["query_string"], body)
        )
        sealed = Sealed.of(owner, key, request)
        now = self.clock.now()
        held = await self.store.claim(sealed, now, now + self.lease)
        if not isinstance(held, Claim):
            # The key's state goes only to a caller the route admits now (``readmit``).
            try:
                await self.admit(scope, replaying(messages, receive))
            except AppError as refused:
                await send_error(send, refused)
                return
            if held.fingerprint != sealed.fingerprint:
                await send_error(send, IdempotencyKeyReused())
            elif held.status is None or held.sealed is None:
                await send_error(send, IdempotencyKeyInUse(headers={"Retry-After": "1"}))
            else:
                await _send(send, sealed.open(held.status, held.sealed), replayed=True)
            return
        answer = await self._run(scope, replaying(messages, receive), sealed, held)
        await _send(send, answer, replayed=False)

    async def _run(self, scope: Scope, receive: Receive, sealed: Sealed, claim: Claim) -> Answer:
        """Run the request with its answer held back, and store the answer before it is sent:
        a client that is gone by then finds it on its retry."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, hold)
            if start is None:
                raise RuntimeError("the app returned without answering")
        except BaseException:
            # No answer (an error rendered further out, or cancelled): the key is free again.
            await self._settle(self.store.release(sealed, claim))
            raise
        status = int(start["status"])
        answer = Answer(status, list(start.get("headers", [])), b"".join(chunks))
        if status >= 500 or status in NOT_RUN:
            await self._settle(self.store.release(sealed, claim))
            return answer
        kept = Answer(status, [(k, v) for k, v in answer.headers if k in KEPT_HEADERS], answer.body)
        now = self.clock.now()
        await self._settle(
            self.store.finish(sealed, claim, status, sealed.seal(kept), now, now + self.ttl)
        )
        return answer

    async def _settle(self, step: Coroutine[Any, Any, None]) -> None:
        """Finish or release a claim (each store carries the step through a cancellation of
        the client's task on its own). If the store fails here, the request has run: its
        answer is still sent (only a replay is lost, and the claim's lease frees the key)."""
        try:
            await step
        except Exception:
            logger.warning("idempotency store failed after the request ran", exc_info=True)

    def _is_public(self, scope: Scope) -> bool:
        by_method = self._public_by_method
        if by_method is None:  # the routes exist by the first request
            by_method = self._public_by_method = _by_method(self.public)
        pattern = by_method.get(scope["method"])
        return pattern is not None and pattern.match(scope["path"]) is not None


def _by_method(
    routes: Sequence[tuple[frozenset[str], re.Pattern[str]]],
) -> dict[str, re.Pattern[str] | None]:
    """One alternation per write method of the public routes' path patterns (their named
    groups made plain: one name may not appear twice in a pattern)."""
    found: dict[str, re.Pattern[str] | None] = {}
    for method in WRITE_METHODS:
        parts = [
            re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)
            for methods, pattern in routes
            if method in methods
        ]
        found[method] = re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None
    return found


_KEY = re.compile(rb"[\x20-\x7e]{1,%d}" % MAX_KEY)


def _valid(key: bytes) -> bool:
    return _KEY.fullmatch(key) is not None


async def _send(send: Send, answer: Answer, *, replayed: bool) -> None:
    headers = answer.headers
    if replayed:
        body_length = (b"content-length", str(len(answer.body)).encode())
        headers = [*headers, body_length, REPLAYED]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


# -- OpenAPI ---------------------------------------------------------------------------------


def openapi_parameter() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Makes the write safe to retry: the first answer to this key (status, Location, "
            "ETag, body) is stored for 24 h per user and org and replayed for the same method, "
            "path, query and body; another request with the key is 422 "
            "`idempotency_key_reused`, one while the first runs 409 `idempotency_key_in_use`."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[ -~]+$"},
    }


def openapi_response_header() -> dict[str, Any]:
    return {
        "description": "`true` when this answer is the stored answer to an earlier request "
        "with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }


def document(spec: dict[str, Any], public: Collection[str] = ()) -> None:
    """Declare the header, the replay marker and the two refusals on every write operation of
    ``spec`` but those named in ``public`` (operation ids of routes anyone may call)."""
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method.upper() not in WRITE_METHODS or operation.get("operationId") in public:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                parameters.append(openapi_parameter())
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if str(status).startswith("2"):
                    response.setdefault("headers", {})["Idempotent-Replayed"] = (
                        openapi_response_header()
                    )
            for status, text in (("409", _IN_USE), ("422", _REUSED)):
                declared = responses.setdefault(status, {"description": text, **_ENVELOPE})
                if status == "422":  # the refusal names no fields, unlike a validation 422
                    declared["content"] = _EITHER_422
                if text not in declared.get("description", ""):
                    declared["description"] = f"{declared.get('description', '')} {text}".strip()


_IN_USE = "`idempotency_key_in_use`: the first request with this Idempotency-Key still runs."
_REUSED = "`idempotency_key_reused`: the Idempotency-Key was used for another request."
_EITHER_422 = {
    "application/json": {
        "schema": {
            "anyOf": [
                {"$ref": "#/components/schemas/ValidationError"},
                {"$ref": "#/components/schemas/Error"},
            ]
        }
    }
}
_ENVELOPE = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
}
