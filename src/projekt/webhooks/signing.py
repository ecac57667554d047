"""Signing secrets: made here, sealed at rest, and used for Standard Webhooks signatures.

A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is those 32 bytes. Signing
needs the secret itself, so it cannot be stored as a digest (as tokens are): it is sealed with
AES-256-GCM under the server's webhook key (``PROJEKT_WEBHOOK_SECRET_KEY``), with the endpoint's
id as associated data, so a sealed secret copied onto another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from projekt.config import Settings

PREFIX = "whsec_"
SEALED = "v1:"
log = logging.getLogger("projekt.webhooks")


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signatures(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per live secret, space-separated."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_)


class SecretBox:
    """Seals and opens signing secrets with AES-256-GCM (a fresh 96-bit nonce each time)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the webhook key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(webhook_key(settings))

    def seal(self, secret: str, owner: uuid.UUID) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), owner.bytes)
        return SEALED + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, owner: uuid.UUID) -> str:
        raw = base64.b64decode(sealed.removeprefix(SEALED))
        return self._aead.decrypt(raw[:12], raw[12:], owner.bytes).decode()


def webhook_key(settings: Settings) -> bytes:
    """The key from the settings; without one, a key file beside the default SQLite database,
    made on first use (one host; several hosts must share PROJEKT_WEBHOOK_SECRET_KEY)."""
    configured = settings.webhook_secret_key
    if configured is not None:
        return decode_key(configured.get_secret_value())
    path = Path(settings.webhook_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked: workers starting together all read
        # the one key that won, never a half-written file.
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
        try:
            os.link(draft, path)
            log.warning("made a webhook key file (set PROJEKT_WEBHOOK_SECRET_KEY in production)")
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return decode_key(path.read_text().strip())


def decode_key(text: str) -> bytes:
    """Base64 (standard or URL-safe alphabet, padding optional) of 32 bytes."""
    text = text.strip().replace("+", "-").replace("/", "_")
    key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(key) != 32:
        raise ValueError("PROJEKT_WEBHOOK_SECRET_KEY must be 32 bytes, base64-encoded")
    return key
