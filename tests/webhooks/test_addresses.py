"""The address rule both SSRF guards share (webhook targets, client metadata documents): public
unicast only, and an IPv6 address that carries an IPv4 address is as good as that address."""

from __future__ import annotations

import ipaddress

import pytest

from projekt.core.addresses import is_public, refused_address
from tests.factories import Factory, Org

LOOPBACK = "a loopback address"
LINK_LOCAL = "a link-local address (cloud metadata lives there)"
PRIVATE = "a private address"
NOT_ROUTABLE = "an address that is not publicly routable"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("127.0.0.1", LOOPBACK),
        ("10.1.2.3", PRIVATE),
        ("192.168.0.1", PRIVATE),
        ("100.64.0.1", NOT_ROUTABLE),  # shared (CGNAT)
        ("169.254.169.254", LINK_LOCAL),
        ("0.0.0.0", PRIVATE),
        ("224.0.0.1", "a multicast address"),
        ("::1", LOOPBACK),
        ("::", PRIVATE),
        ("fe80::1", LINK_LOCAL),
        ("fd00:ec2::254", PRIVATE),
        ("fec0::1", PRIVATE),  # site-local: Python calls it global
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", PRIVATE),
        # IPv4-mapped: the IPv4 address decides, as it always did
        ("::ffff:127.0.0.1", LOOPBACK),
        ("::ffff:169.254.169.254", LINK_LOCAL),
        # IPv4-translated (SIIT): the carried address's reason, and refused whatever it carries
        ("::ffff:0:7f00:1", LOOPBACK),
        ("::ffff:0:808:808", NOT_ROUTABLE),
        # NAT64, well-known prefix: likewise (64:ff9b::/96 is in the reserved ::/8)
        ("64:ff9b::7f00:1", LOOPBACK),
        ("64:ff9b::a9fe:a9fe", LINK_LOCAL),
        ("64:ff9b::808:808", NOT_ROUTABLE),
        # NAT64, local-use prefix: not globally reachable, the IPv4 address's place unknowable
        ("64:ff9b:1::7f00:1", NOT_ROUTABLE),
        ("64:ff9b:1::808:808", NOT_ROUTABLE),
        # 6to4: bits 16-48 are the relay's IPv4 destination; Python calls 2002::/16 global
        ("2002:7f00:1::", LOOPBACK),
        ("2002:a9fe:a9fe::1", LINK_LOCAL),
        ("2002:c0a8:1::", PRIVATE),
        ("2002:6440:1::", NOT_ROUTABLE),
        ("2002:e000:1::", "a multicast address"),
        # Teredo: the client's IPv4 address is obfuscated, the route goes through relays
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
        ("2001:0:808:808:8000:f7f7:f7f7:f7f7", "a Teredo tunnel address"),
        # what must keep passing
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("2002:808:808::", None),
        ("2002:808:808:1::1", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_an_address_and_any_ipv4_address_it_carries_must_be_public(
    text: str, why: str | None
) -> None:
    address = ipaddress.ip_address(text)
    assert refused_address(address) == why
    assert is_public(address) is (why is None)


@pytest.mark.usefixtures("strict_targets")
async def test_a_6to4_address_of_loopback_is_refused_like_loopback(factory: Factory) -> None:
    org: Org = await factory.org()
    headers = org.owner.headers(org.id)
    answers = []
    for url in ("http://127.0.0.1/", "http://[2002:7f00:1::]/"):
        answer = await org.owner.client.post(
            "/api/webhooks", json={"url": url, "events": ["*"]}, headers=headers
        )
        assert answer.status_code == 422, (url, answer.text)
        answers.append(answer.json()["errors"])
    assert answers[0] == answers[1]
    assert "loopback" in str(answers[0]["url"])
