"""A small HTTPS server on loopback, with a self-signed certificate made for the run: where
tests publish client metadata documents (URL client_ids must be https)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "projekt test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class Documents:
    """What the server answers: path → JSON document (or raw bytes); counts the fetches."""

    base: str = ""
    ca_file: str = ""
    served: dict[str, Any] = field(default_factory=dict)
    fetches: dict[str, int] = field(default_factory=dict)

    def publish(self, path: str, document: Any) -> str:
        self.served[path] = document
        return self.base + path


@asynccontextmanager
async def tls_server(directory: Path) -> AsyncIterator[Documents]:
    cert_file, key_file = self_signed(directory)
    docs = Documents(ca_file=str(cert_file))
    never = asyncio.Event()

    async def serve(request: Request) -> Response:
        path = request.url.path
        docs.fetches[path] = docs.fetches.get(path, 0) + 1
        if path == "/redirect":
            return RedirectResponse(docs.base + "/elsewhere", status_code=302)
        if path == "/stall":
            await never.wait()
        found = docs.served.get(path)
        if found is None:
            return Response(status_code=404)
        if isinstance(found, bytes):
            return Response(found, media_type="application/json")
        return JSONResponse(found)

    app = Starlette(routes=[Route("/{path:path}", serve)])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    docs.base = f"https://127.0.0.1:{port}"
    try:
        yield docs
    finally:
        never.set()
        server.should_exit = True
        await task
