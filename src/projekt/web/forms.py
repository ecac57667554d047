"""What every form of the pages does when its write is refused: show the page again, with the
status the API would answer and the reason in words.

A handler names its write and the page to show on a refusal; it never catches errors itself::

    await submit(lambda: service.remove_member(ctx, member_id, if_match), again)
    return RedirectResponse(PEOPLE, status_code=303)

``Shown`` carries a page out of a handler or of a helper it calls (a redirect for a visitor who
may not see the page, the form again on a refusal). Raising it ends the request the way any
error does: the unit of work rolls back, and the handler ``install_web_handlers`` adds answers
with the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.responses import Response

from projekt.core.errors import AppError, PreconditionFailed

T = TypeVar("T")

Again = Callable[[int, str], Awaitable[Response]]
"""The page to show after a refusal, given its status code and message."""

STALE = "Someone changed this meanwhile. The page now shows what is current."


class Shown(Exception):
    """Answer with ``response`` instead of what the handler would have returned."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def submit(write: Callable[[], Awaitable[T]], again: Again) -> T:
    """Run ``write``; a refusal by the service (``AppError``) or by the form's model
    (``ValueError``, pydantic's included) raises ``Shown`` with the page ``again`` renders."""
    try:
        return await write()
    except (AppError, ValueError) as exc:
        raise Shown(await again(*refusal(exc))) from None


def refusal(exc: AppError | ValueError) -> tuple[int, str]:
    """The status and the words a page shows for a refused write."""
    if isinstance(exc, PreconditionFailed):
        return exc.status, STALE
    if isinstance(exc, AppError):
        detail = "; ".join(m for msgs in (exc.errors or {}).values() for m in msgs)
        return exc.status, detail or exc.message
    return 422, first_message(exc)


def first_message(exc: ValueError) -> str:
    """A validation error's first complaint, prefixed with its field when it names one."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        return f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
    return str(exc)


def again_with(render: Callable[..., Awaitable[Response]], *args: Any) -> Again:
    """The page ``render(*args, status_code, error=message)``: the pages' renderers take the
    status after what identifies the page, and the message as ``error``."""

    async def again(status_code: int, message: str) -> Response:
        return await render(*args, status_code, error=message)

    return again
