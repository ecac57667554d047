"""What the middleware puts in the ASGI scope for the layers after it, through one typed
accessor each (reads and writes), instead of ``scope["state"]["…"]`` lookups around the code.

- the request id (``FrontMiddleware``, first): every log line and the record's events name it;
- the principal (``AccessMiddleware``): who is calling, once identified;
- the org context (the ``authorize`` dependency): the org the route acts in and the caller's
  role there, for ``OrgDep``.

The dry run is a context variable instead (``core.dry_run``): the transaction owners that read
it never see the request. Plain functions on the scope's ``state`` dict (Starlette's
``request.state`` reads the same dict): the busiest requests call them several times each.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from projekt.core.context import OrgContext, Principal

Scope = MutableMapping[str, Any]


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def request_id(scope: Scope) -> str | None:
    found: str | None = scope.get("state", {}).get("request_id")
    return found


def set_request_id(scope: Scope, value: str) -> None:
    _state(scope)["request_id"] = value


def principal(scope: Scope) -> Principal | None:
    found: Principal | None = scope.get("state", {}).get("principal")
    return found


def set_principal(scope: Scope, value: Principal | None) -> None:
    _state(scope)["principal"] = value


def org_context(scope: Scope) -> OrgContext | None:
    found: OrgContext | None = scope.get("state", {}).get("org_context")
    return found


def set_org_context(scope: Scope, value: OrgContext) -> None:
    _state(scope)["org_context"] = value
