"""Which redirect URIs a client may register (dynamic registration or a metadata document)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from projekt.oauth.server import LOOPBACK_HOSTS

_DNS_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")


def redirect_problem(uri: str) -> str | None:
    """Why a redirect URI is refused, or None: https, or http on a loopback host only; a plain
    host (no user info, no wildcard), no fragment (RFC 6749 §3.1.2, RFC 9700 §4.1)."""
    if len(uri) > 2000:
        return "too long"
    if any(not "!" <= c <= "~" for c in uri) or "\\" in uri:
        return "must be printable ASCII without spaces or backslashes (percent-encode the rest)"
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        return "fragments are not allowed"
    if parts.scheme not in ("https", "http"):
        return "must be https, or http on a loopback address"
    if "@" in parts.netloc:
        # https://claude.ai:443@evil.example/ goes to evil.example: no user info, ever.
        return "must not contain user information (@)"
    if "*" in parts.netloc:
        return "wildcards are not allowed; register each exact address"
    host = parts.hostname or ""
    try:
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "the port is not a number from 0 to 65535"
    if not _is_host(host):
        return "needs a host name or IP address"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "must be https, or http on a loopback address"
    return None


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_DNS_NAME.match(host)) and not host.replace(".", "").isdigit()
    return True
