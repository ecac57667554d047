"""Every line the server logs during the whole suite, scanned for secrets when the suite ends.

The suite is the largest run of hostile input we have (NUL bytes, forged paths, wrong
passwords, dead tokens, forced database errors, outages): if any of it gets a credential, a
password hash or a password into a log line, the session fails at its end (issue 14.2, and
the security plan's B2).
"""

from __future__ import annotations

import logging
import re

from tests.factories import PASSWORD

SECRET_IN_LOG = [
    re.compile(r"pjk_live_[0-9A-Za-z]{32}"),  # personal access tokens
    re.compile(r"pjo_(?:at|rt)_[A-Za-z0-9_-]{20,}"),  # OAuth access and refresh tokens
    re.compile(r"pjs_[A-Za-z0-9_-]{20,}"),  # OAuth client secrets
    re.compile(r"\$argon2(?:id|i|d)?\$"),  # password hashes
    re.compile(re.escape(PASSWORD)),  # the password every test person signs in with
    re.compile(r"Bearer [A-Za-z0-9]"),
]


class LogWatch(logging.Handler):
    """Keeps the formatted text of every record the server's loggers emit."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "projekt" or record.name.startswith(
            ("projekt.", "uvicorn", "sqlalchemy")
        ):
            self.lines.append(self.format(record))

    def leaks(self) -> list[str]:
        found = []
        for line in self.lines:
            for pattern in SECRET_IN_LOG:
                match = pattern.search(line)
                if match:
                    found.append(f"{pattern.pattern!r} in: {line[:200]}")
        return found
