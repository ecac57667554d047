"""The client metadata fetcher refuses what the webhook guard refuses (tests/webhooks/
test_addresses.py holds the whole table): reachable without signing in, it is the easier way in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from projekt.oauth.cimd import _public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b:1::7f00:1", False),  # local-use NAT64
        ("::ffff:0:7f00:1", False),  # IPv4-translated 127.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("fec0::1", False),  # site-local
        ("fe80::1%eth0", False),  # link-local with a zone, as getaddrinfo may give it
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("8.8.8.8", True),
        ("2002:808:808::", True),  # 6to4 of a public address
    ],
)
def test_resolved_addresses_pass_the_shared_rule(address: str, public: bool) -> None:
    assert _public(address) is public


class NoConnection:
    """Stands in for httpx.AsyncClient: the fetch must be refused before one is opened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a connection was attempted")


async def test_a_nat64_address_of_loopback_is_refused_before_any_connection(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous, as an attacker would call it; the app's fetcher (private addresses refused)."""
    monkeypatch.setattr(httpx, "AsyncClient", NoConnection)
    params = {
        "response_type": "code",
        "client_id": "https://[64:ff9b::7f00:1]/cimd.json",
        "redirect_uri": "http://127.0.0.1:7777/callback",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    refused = await client.get("/oauth/authorize", params=params)
    assert refused.status_code == 400, refused.text
    assert "not a public address" in refused.text
