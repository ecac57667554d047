"""Secrets, their sealing key, and signatures (checked against the standardwebhooks package)."""

from __future__ import annotations

import base64
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook as Reference

from projekt.config import Settings
from projekt.webhooks.signing import SecretBox, new_secret, signature, signatures, webhook_key


def test_signatures_match_the_standard_webhooks_reference() -> None:
    secret = new_secret()
    body = b'{"id":"x","type":"issue.created"}'
    when = datetime(2026, 5, 28, 9, 14, 2, tzinfo=UTC)
    mine = signature(secret, "msg_1", int(when.timestamp()), body)
    assert mine == Reference(secret).sign("msg_1", when, body.decode())
    other = new_secret()
    both = signatures([secret, other], "msg_1", int(when.timestamp()), body)
    assert both.split(" ") == [mine, signature(other, "msg_1", int(when.timestamp()), body)]


def test_without_a_configured_key_one_key_file_is_made_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "webhook.key"
    settings = Settings(webhook_key_file=str(path))
    first = webhook_key(settings)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert webhook_key(settings) == first
    assert [p.name for p in path.parent.iterdir()] == ["webhook.key"]  # no drafts left
    sealed = SecretBox(first).seal("whsec_abc", owner := uuid.uuid4())
    assert SecretBox(webhook_key(settings)).open(sealed, owner) == "whsec_abc"


# Fixed values: pytest-xdist needs every worker to collect the same test ids.
@pytest.mark.parametrize("bad", ["short", base64.b64encode(bytes(range(16))).decode(), "!!!!"])
def test_a_bad_key_setting_fails_at_start_up(bad: str) -> None:
    with pytest.raises(ValidationError):
        Settings(webhook_secret_key=bad)


def test_a_lease_must_outlast_a_send() -> None:
    with pytest.raises(ValidationError):
        Settings(webhook_lease_s=5, webhook_timeout_s=10)
    assert Settings(webhook_secret_key="").webhook_secret_key is None
