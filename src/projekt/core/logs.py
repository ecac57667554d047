"""What the ``projekt`` loggers write: one line per record, no raw control characters, no
statement parameters, no credentials.

Log lines carry text that callers choose (a path, a header, a message an exception quotes from
input). A CR or LF in it would start a forged line (``GET /api/x%0AINFO projekt.access …``),
an ANSI escape would rewrite a terminal, and a database error quotes the values it refused
(asyncpg's ``DETAIL:  Key (email)=(…)``, ``invalid input syntax for type integer: "…"``). So every
record logged under ``projekt`` is rewritten once, before any handler formats it:

- the message is rendered and every control character (C0, DEL, C1, U+2028/U+2029) escaped;
- token-shaped strings (``pjk_live_…``, OAuth tokens, argon2 hashes) are masked;
- an attached exception is rendered here, with database errors reduced to their class, SQLSTATE
  and statement (never their values) and every other message escaped the same way.

It is done by a handler on the ``projekt`` logger that rewrites the record in place: records
of child loggers pass the handlers of their ancestors before the root's, so whatever handler
the host installs (uvicorn's, pytest's, a JSON shipper on the root) sees the clean record.
"""

from __future__ import annotations

import logging
import re
import traceback

from sqlalchemy import exc as sa_exc

# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Personal access tokens (pjk_live_), OAuth access and refresh tokens (pjo_at_, pjo_rt_), OAuth
# client secrets (pjs_), and argon2 hashes. Client ids (pjc_) are public and stay readable.
_TOKEN = re.compile(r"\b(?:pjk|pjo|pjs)_[A-Za-z0-9_\-]+")
_HASH = re.compile(r"\$argon2(?:id|i|d)?\$[A-Za-z0-9$=,+/.]*")
_MARK = "_projekt_clean"
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def escape_controls(text: str) -> str:
    r"""``\n``, ``\r``, ``\t`` as themselves, any other control character as ``\xNN``/``\uNNNN``."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def mask_secrets(text: str) -> str:
    return _HASH.sub("[hash redacted]", _TOKEN.sub("[token redacted]", text))


def clean(text: str) -> str:
    return escape_controls(mask_secrets(text))


def _describe(exc: BaseException) -> str:
    """One safe line for an exception: database errors lose their values."""
    name = type(exc).__qualname__
    if isinstance(exc, sa_exc.StatementError):
        orig = exc.orig
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        driver = f"{type(orig).__module__}.{type(orig).__qualname__}" if orig else "-"
        return clean(f"{name}: ({driver}) sqlstate={state} [SQL: {exc.statement}]")
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is not None:  # asyncpg's (and SQLAlchemy's adapted) errors quote values
        parts = [f"{name}: sqlstate={sqlstate}"]
        for attr in ("constraint_name", "table_name", "column_name"):
            value = getattr(exc, attr, None)
            if value:
                parts.append(f"{attr}={value}")
        return clean(" ".join(parts))
    return clean(traceback.format_exception_only(type(exc), exc)[-1].rstrip("\n"))


def format_exception(exc: BaseException) -> str:
    """The traceback, causes first as Python prints it, with every message made safe."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    lines: list[str] = []
    for position, (item, _link) in enumerate(reversed(chain)):
        if position:
            # The link that led from the next (outer) exception to this inner one.
            lines.append(f"\n{chain[len(chain) - position][1]}\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(item.__traceback__))
        lines.append(_describe(item) + "\n")
        if isinstance(item, BaseExceptionGroup):
            # A task group's failure says only how many failed: the members are the cause.
            for number, member in enumerate(item.exceptions, 1):
                inner = format_exception(member).replace("\n", "\n  | ")
                lines.append(f"  +---- {number} of {len(item.exceptions)} ----\n  | {inner}\n")
    return "".join(lines).rstrip("\n")


def sanitize(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place (once) into its safe form."""
    if getattr(record, _MARK, False):
        return
    setattr(record, _MARK, True)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = f"{record.msg!r} {record.args!r}"
    record.msg, record.args = clean(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = format_exception(record.exc_info[1])
    if record.stack_info:
        record.stack_info = escape_controls(record.stack_info)


class _Sanitizer(logging.Handler):
    """Emits nothing itself: it cleans each record before the handlers above it see it."""

    def handle(self, record: logging.LogRecord) -> bool:
        sanitize(record)
        last_resort = logging.lastResort
        # Python prints to stderr when no handler at all exists; this one must not hide the
        # warnings of a process that configured no logging.
        if (
            last_resort is not None
            and record.levelno >= last_resort.level
            and not _has_other_handlers(record.name)
        ):
            last_resort.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() overrides
        pass


def _has_other_handlers(name: str) -> bool:
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(not isinstance(h, _Sanitizer) for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


# Libraries whose debug lines print statement parameters (aiosqlite logs every call with its
# arguments): they stay quiet even when the server logs at debug level.
PARAMETER_LOGGERS = ("aiosqlite",)


def install(name: str = "projekt") -> None:
    """Clean every record of ``name`` and its children (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, _Sanitizer) for h in logger.handlers):
        logger.addHandler(_Sanitizer())
    for noisy in PARAMETER_LOGGERS:
        if logging.getLogger(noisy).level == logging.NOTSET:
            logging.getLogger(noisy).setLevel(logging.INFO)
