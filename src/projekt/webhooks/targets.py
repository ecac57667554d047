"""The SSRF guard: where an endpoint may point, checked when it is saved and again before each
send (DNS can change in between), and the address a send connects to (the one just checked).
Which addresses pass is ``core/addresses.py``'s rule, shared with the client metadata fetcher.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from projekt.core.addresses import IPAddress, refused_address

RESOLVE_TIMEOUT_S = 5.0


class TargetRefused(Exception):
    """The URL may not be a webhook target; the message says why (shown to the admin)."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    address: IPAddress  # the checked address the send connects to
    path: str = "/"  # the request target: the url's path and query

    def pinned_url(self, url: str) -> str:
        """``url`` with its host replaced by the checked address (the Host header and, for
        https, the TLS server name keep the original host)."""
        parts = urlsplit(url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{literal}:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, *, require_https: bool) -> tuple[str, str, int]:
    """Scheme, host and port of a well-formed target URL, or ``TargetRefused``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("The url is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("The url must use http or https")
    if require_https and scheme != "https":
        raise TargetRefused("The url must use https (this server is served over https)")
    if not parts.hostname:
        raise TargetRefused("The url must name a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The url must not carry credentials")
    if parts.fragment:
        raise TargetRefused("The url must not carry a fragment")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


async def resolve(url: str, *, require_https: bool, allow_private: bool) -> Target:
    """Check the URL, resolve its host, and check every address it resolves to."""
    scheme, host, port = check_url(url, require_https=require_https)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _lookup(host, port)
    if not allow_private:
        for address in addresses:
            why = refused_address(address)
            if why is not None:
                raise TargetRefused(f"The url's host resolves to {why}")
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, addresses[0], path)


async def _lookup(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise TargetRefused("The url's host does not resolve") from exc
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise TargetRefused("The url's host does not resolve")
    return found
