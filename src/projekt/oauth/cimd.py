"""Client ID Metadata Documents: an ``https`` URL as ``client_id``, its metadata fetched from it.

An MCP host (Claude, VS Code, …) that has never met this server names itself by the URL of a
JSON document it publishes; the document lists its name and redirect URIs, and its
``client_id`` must be that very URL (draft-ietf-oauth-client-id-metadata-document, MCP
authorization "Client Registration"). The fetch is a request this server makes to an address a
stranger chose, so it is guarded like any server-side request:

- ``https`` only, a path besides ``/``, no user info, no fragment;
- the host's addresses are resolved first and every one must be public (no loopback, private,
  site-local, link-local — the cloud metadata address —, shared, reserved or multicast
  address, nor a 6to4, NAT64 or translated one carrying such an IPv4 address:
  ``core/addresses.py``), unless
  ``oauth_cimd_allow_private`` is set (tests, local use); the request then goes to the address
  that was checked (TLS still verifies the certificate for the host name), so a second DNS
  answer cannot point it elsewhere;
- no redirects, a time limit for the whole exchange and a size limit on the body.

Documents are cached per worker for ``oauth_cimd_cache_s``; the document's ``redirect_uris``
are then enforced exactly as a registered client's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import anyio

from projekt.config import Settings
from projekt.core.addresses import is_public
from projekt.oauth.redirects import redirect_problem

MAX_REDIRECT_URIS = 10


class MetadataRefused(Exception):
    """Why a client's metadata document cannot be used (shown on the error page)."""


@dataclass(frozen=True, slots=True)
class ClientDocument:
    client_id: str  # the URL
    client_name: str
    redirect_uris: list[str]
    grant_types: list[str]


def is_metadata_url(client_id: str | None) -> bool:
    return bool(client_id) and str(client_id).startswith("https://")


def stored_id(url: str) -> str:
    """The key a metadata-document client is stored under (URLs outgrow the column)."""
    return "pjm_" + hashlib.sha256(url.encode()).hexdigest()[:40]


def check_url(url: str) -> None:
    if len(url) > 2000:
        raise MetadataRefused("The client_id URL is too long.")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise MetadataRefused("A URL client_id must be an https URL.")
    if parts.path in ("", "/"):
        raise MetadataRefused("A URL client_id needs a path.")
    if "@" in parts.netloc or parts.fragment or "#" in url:
        raise MetadataRefused("A URL client_id has no user information and no fragment.")
    if any(not "!" <= c <= "~" for c in url) or "\\" in url:
        raise MetadataRefused("A URL client_id is printable ASCII.")


def _public(address: str) -> bool:
    """Whether a resolved address may be fetched from: the webhook targets' rule, so a 6to4,
    NAT64 or translated address carrying 127.0.0.1 is as refused here as 127.0.0.1."""
    return is_public(ipaddress.ip_address(address.split("%", 1)[0]))


class MetadataFetcher:
    """Fetches, checks and caches client metadata documents (one per worker)."""

    def __init__(self, settings: Settings) -> None:
        self.allow_private = settings.oauth_cimd_allow_private
        self.timeout = settings.oauth_cimd_timeout_s
        self.max_bytes = settings.oauth_cimd_max_bytes
        self.ttl = settings.oauth_cimd_cache_s
        self.verify = ssl.create_default_context()
        if settings.oauth_cimd_ca_file:
            self.verify.load_verify_locations(settings.oauth_cimd_ca_file)
        self._cache: dict[str, tuple[float, ClientDocument]] = {}

    async def get(self, url: str) -> ClientDocument:
        check_url(url)
        cached = self._cache.get(url)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            with anyio.fail_after(self.timeout):
                body = await self._fetch(url)
        except TimeoutError:
            raise MetadataRefused("The client's metadata document took too long.") from None
        document = parse_document(url, body)
        if self.ttl:
            if len(self._cache) > 1000:  # strangers choose the URLs: keep the cache bounded
                self._cache.clear()
            self._cache[url] = (time.monotonic() + self.ttl, document)
        return document

    async def _address(self, host: str, port: int) -> str:
        try:
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise MetadataRefused("The client_id's host does not resolve.") from None
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise MetadataRefused("The client_id's host does not resolve.")
        if not self.allow_private and not all(_public(a) for a in addresses):
            raise MetadataRefused("The client_id's host is not a public address.")
        return addresses[0]

    async def _fetch(self, url: str) -> bytes:
        # httpx on first use (a metadata-document client is rare): importing it also loads its
        # command line's rich, click and pygments when they are installed (dev installs), which
        # cost every worker about 4 MB of resident memory (bench/README.md).
        import httpx

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or 443
        address = await self._address(host, port)
        pinned = f"[{address}]" if ":" in address else address
        target = urlunsplit(("https", f"{pinned}:{port}", parts.path, parts.query, ""))
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        body = bytearray()
        try:
            async with (
                httpx.AsyncClient(
                    verify=self.verify, follow_redirects=False, trust_env=False
                ) as http,
                http.stream(
                    "GET", target, headers=headers, extensions={"sni_hostname": host}
                ) as response,
            ):
                if response.status_code != 200:
                    raise MetadataRefused(
                        f"The client's metadata document answered {response.status_code}."
                    )
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise MetadataRefused("The client's metadata document is too large.")
        except httpx.HTTPError:
            raise MetadataRefused("The client's metadata document could not be fetched.") from None
        return bytes(body)


def parse_document(url: str, body: bytes) -> ClientDocument:
    try:
        data = json.loads(body)
    except ValueError:
        raise MetadataRefused("The client's metadata document is not JSON.") from None
    if not isinstance(data, dict):
        raise MetadataRefused("The client's metadata document is not a JSON object.")
    if data.get("client_id") != url:
        raise MetadataRefused("The metadata document's client_id is not its own URL.")
    method = data.get("token_endpoint_auth_method", "none")
    if method != "none":
        # A document is public: no shared secret can be part of it.
        raise MetadataRefused("A metadata-document client authenticates with 'none' only.")
    if "client_secret" in data or "client_secret_expires_at" in data:
        raise MetadataRefused("A metadata document must not carry a client secret.")
    grants = data.get("grant_types", ["authorization_code"])
    if (
        not isinstance(grants, list)
        or "authorization_code" not in grants
        or not set(grants) <= {"authorization_code", "refresh_token"}
    ):
        raise MetadataRefused("grant_types: authorization_code[, refresh_token].")
    if data.get("response_types", ["code"]) != ["code"]:
        raise MetadataRefused('response_types must be ["code"].')
    uris = data.get("redirect_uris")
    if (
        not isinstance(uris, list)
        or not 1 <= len(uris) <= MAX_REDIRECT_URIS
        or not all(isinstance(u, str) for u in uris)
    ):
        raise MetadataRefused(f"redirect_uris: 1 to {MAX_REDIRECT_URIS} addresses.")
    for uri in uris:
        if problem := redirect_problem(uri):
            raise MetadataRefused(f"redirect_uris: {uri[:100]}: {problem}")
    name = data.get("client_name")
    if not isinstance(name, str) or not name.strip():
        name = urlsplit(url).hostname or "Unnamed client"
    # The name is the client's own claim; the host it lives on is not.
    shown = f"{name.strip()[:150]} ({urlsplit(url).hostname})"
    return ClientDocument(url, shown, list(uris), list(dict.fromkeys(grants)))
