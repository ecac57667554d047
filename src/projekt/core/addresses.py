"""Whether this server may connect to an address a stranger chose: the address half of the SSRF
guards (webhook targets, client metadata documents), one rule so the two cannot drift apart.

Python's ``is_global`` is not enough on its own. It calls 6to4 (``2002::/16``) and site-local
(``fec0::/10``) global, and it knows nothing of the IPv4 address inside an IPv6 one, yet a
6to4 relay, a NAT64 or SIIT translator, or the host's own dual-stack socket delivers to that
IPv4 address: ``2002:7f00:1::`` and ``64:ff9b::7f00:1`` are roads to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6052 §2.1: the IPv4 address is the last 32 bits.
_WELL_KNOWN_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 2765 §2.1 (SIIT): the IPv4 address is the last 32 bits.
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
# RFC 8215: local-use NAT64. Each network picks its own prefix length, so where the IPv4 address
# sits is unknowable from outside; IANA lists the block as not globally reachable.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def refused_address(address: IPAddress) -> str | None:
    """Why an address may not be reached, or None. Only globally routable unicast addresses
    pass: loopback, private, site-local, link-local (cloud metadata at 169.254.169.254), shared
    (CGNAT), multicast, reserved and unspecified ones do not, nor an IPv6 address carrying an
    IPv4 address that would not pass itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # A dual-stack socket connects to the IPv4 address itself: it alone decides.
            return refused_address(address.ipv4_mapped)
        if address.teredo is not None:
            # The client's IPv4 address is obfuscated and traffic goes through relays chosen by
            # the network, so no check of ours says where it lands; no webhook receiver or
            # metadata host has reason to live behind a Teredo tunnel (Python already counts
            # 2001::/23 as private; this says so by name and does not lean on that table).
            return "a Teredo tunnel address"
        if address in _LOCAL_NAT64:
            return "an address that is not publicly routable"
        carried = _carried_ipv4(address)
        if carried is not None and (why := refused_address(carried)) is not None:
            return why
        if address.is_site_local:
            # Deprecated (RFC 3879) but still routed inside some networks, like fc00::/7.
            return "a private address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_reserved or address.is_unspecified:
        return "an address that is not publicly routable"
    return None


def is_public(address: IPAddress) -> bool:
    return refused_address(address) is None


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translator or relay would deliver an IPv6 address to. The address
    itself is still checked afterwards: NAT64 and SIIT sit in ``::/8``, reserved, so they stay
    refused whatever they carry (an IPv6-only host behind DNS64 reaches no IPv4-only
    receiver); 6to4 carrying a public address passes."""
    if address in _WELL_KNOWN_NAT64 or address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour
