"""OAuth hardening (issues 13 and 14): PKCE always, codes burnt by any failed redemption,
grants bound to a live membership, strict redirect URIs, RFC-shaped 401s."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from projekt.core.context import Role
from projekt.oauth.router import display_host
from projekt.oauth.service import OAuthStore
from tests.factories import Factory, Org
from tests.oauth.test_flow import (
    REDIRECT,
    auth_params,
    code_for,
    exchange,
    refresh,
    register,
)
from tests.support import MovableClock

WITHOUT_PKCE = ("code_challenge", "code_challenge_method")


@pytest.mark.parametrize(
    "dropped", [WITHOUT_PKCE, ("code_challenge_method",)], ids=["no-pkce", "no-method"]
)
async def test_authorize_without_pkce_is_refused_before_consent(
    factory: Factory, client: httpx.AsyncClient, dropped: tuple[str, ...]
) -> None:
    org = await factory.org()
    registered = await register(client)
    challenge = create_s256_code_challenge(secrets.token_urlsafe(48))
    params = {
        k: v for k, v in auth_params(registered["client_id"], challenge).items() if k not in dropped
    }
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 303, page.text
    query = parse_qs(urlsplit(page.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st-123"]
    assert "code" not in query


async def test_forged_approval_without_pkce_is_refused(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    params = {
        k: v
        for k, v in auth_params(registered["client_id"], "x" * 43).items()
        if k not in WITHOUT_PKCE
    }
    form = {**params, "csrf_token": org.owner.csrf, "org_id": str(org.id), "decision": "approve"}
    answer = await org.owner.client.post("/oauth/authorize", data=form)
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


@pytest.mark.parametrize(
    "presented",
    [secrets.token_urlsafe(48), "", "a" * 42, "é" * 43],
    ids=["wrong", "missing", "too-short", "illegal"],
)
async def test_a_failed_verifier_burns_the_code(
    factory: Factory, client: httpx.AsyncClient, presented: str
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    failed = await exchange(client, registered["client_id"], code, presented)
    assert failed.status_code == 400
    assert failed.json()["error"] in ("invalid_grant", "invalid_request")
    right = await exchange(client, registered["client_id"], code, verifier)
    assert right.status_code == 400
    assert right.json()["error"] == "invalid_grant"


async def _me(factory: Factory, access: str) -> int:
    async with factory.client(Authorization=f"Bearer {access}") as agent:
        return (await agent.get("/api/me")).status_code


async def test_concurrent_redemptions_leave_the_winner_standing(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    """docs/decisions.md: of concurrent redemptions exactly one wins, the others get
    invalid_grant without revoking the winner; a replay after that revokes what it issued."""
    org = await factory.org()
    registered = await register(client)
    for _ in range(3):
        code, verifier = await code_for(org.owner, org, registered["client_id"])
        answers = await asyncio.gather(
            *(exchange(client, registered["client_id"], code, verifier) for _ in range(8))
        )
        assert sorted(a.status_code for a in answers) == [200] + [400] * 7
        assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}
        winner = next(a.json() for a in answers if a.status_code == 200)
        assert await _me(factory, winner["access_token"]) == 200
        rotated = await refresh(client, registered["client_id"], winner["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert await _me(factory, rotated.json()["access_token"]) == 200
        # The same code once the race is over: a replay, which ends the whole grant.
        time_travel.advance(timedelta(seconds=2))
        replay = await exchange(client, registered["client_id"], code, verifier)
        assert replay.json()["error"] == "invalid_grant"
        assert await _me(factory, winner["access_token"]) == 401
        assert await _me(factory, rotated.json()["access_token"]) == 401


async def _remove_and_rejoin(
    org: Org, role: Role, *, before_rejoin: Callable[[], Awaitable[None]] | None = None
) -> None:
    owner = org.owner
    removed = await owner.client.delete(
        f"/api/team/{org.employee_ids[role]}", headers=owner.headers(org.id)
    )
    assert removed.status_code == 204, removed.text
    if before_rejoin is not None:
        await before_rejoin()
    invited = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=owner.headers(org.id)
    )
    assert invited.status_code == 201, invited.text
    member = org.members[role]
    joined = await member.client.post(
        "/api/orgs/join", json={"code": invited.json()["code"]}, headers=member.headers()
    )
    assert joined.status_code == 200, joined.text


async def test_a_grant_ends_with_the_membership(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    member = org.members[Role.MEMBER]
    registered = await register(client)
    code, verifier = await code_for(member, org, registered["client_id"])
    tokens = (await exchange(client, registered["client_id"], code, verifier)).json()

    async def refresh_is_refused() -> None:
        assert await _me(factory, tokens["access_token"]) == 401
        answer = await refresh(client, registered["client_id"], tokens["refresh_token"])
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"

    await _remove_and_rejoin(org, Role.MEMBER, before_rejoin=refresh_is_refused)
    again = await refresh(client, registered["client_id"], tokens["refresh_token"])
    assert again.json()["error"] == "invalid_grant"
    assert await _me(factory, tokens["access_token"]) == 401


async def test_rejoining_does_not_revive_a_grant(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    """Removed and invited back without the client noticing in between: the old grant was
    given under the old membership and stays dead."""
    org = await factory.org(roles=(Role.MEMBER,))
    member = org.members[Role.MEMBER]
    registered = await register(client)
    code, verifier = await code_for(member, org, registered["client_id"])
    tokens = (await exchange(client, registered["client_id"], code, verifier)).json()
    await _remove_and_rejoin(org, Role.MEMBER)
    assert await _me(factory, tokens["access_token"]) == 401
    answer = await refresh(client, registered["client_id"], tokens["refresh_token"])
    assert answer.json()["error"] == "invalid_grant"


async def test_a_dead_token_gets_invalid_token_in_the_challenge(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    """RFC 6750 §3.1: a presented token that is expired, revoked or unknown says so."""
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    expiring = (await exchange(client, registered["client_id"], code, verifier)).json()
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    revoked = (await exchange(client, registered["client_id"], code, verifier)).json()
    answer = await client.post(
        "/oauth/revoke",
        data={"token": revoked["access_token"], "client_id": registered["client_id"]},
    )
    assert answer.status_code == 200
    challenges = {}
    async with factory.client(Authorization=f"Bearer {revoked['access_token']}") as agent:
        challenges["revoked"] = await agent.get("/api/me")
    async with factory.client(Authorization="Bearer pjo_at_never-issued") as agent:
        challenges["unknown"] = await agent.get("/api/me")
    time_travel.advance(timedelta(hours=1, seconds=1))
    async with factory.client(Authorization=f"Bearer {expiring['access_token']}") as agent:
        challenges["expired"] = await agent.get("/api/me")
    for why, response in challenges.items():
        assert response.status_code == 401, why
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer "), why
        assert 'error="invalid_token"' in challenge, why
        assert "resource_metadata=" in challenge, why
    # No credential at all is not an invalid token (RFC 6750 §3.1): no error code then.
    anonymous = await client.get("/api/me")
    assert anonymous.status_code == 401
    assert "error=" not in anonymous.headers["www-authenticate"]


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/revoke"])
@pytest.mark.parametrize("how", ["form", "basic"])
async def test_an_unknown_client_is_401(client: httpx.AsyncClient, endpoint: str, how: str) -> None:
    """RFC 6749 §5.2: failed client authentication is 401, with a Basic challenge."""
    data = {"grant_type": "refresh_token", "refresh_token": "pjo_rt_x", "token": "pjo_rt_x"}
    if how == "basic":
        answer = await client.post(endpoint, data=data, auth=("pjc_nobody", "pjs_nothing"))
    else:
        answer = await client.post(endpoint, data={**data, "client_id": "pjc_nobody"})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith('Basic realm="oauth"')
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "uri",
    [
        "https://claude.ai:443@evil.example/cb",
        "https://user@claude.ai/cb",
        "https://claude.ai\\@evil.example/cb",
        "https://*.example.com/cb",
        "https://claude.*/cb",
        "https://claude.ai/cb#",
        "https://claude.ai/cb#frag",
        "claude://callback",
        "com.example.app:/oauth2redirect",
        "file:///etc/passwd",
        "ftp://claude.ai/cb",
        "https:///cb",
        "https://claude.ai:99999/cb",
        "https://bücher.example/cb",
        "https://claude.ai/c b",
        "https://claude.ai%2eevil.example/cb",
        "http://localhost.evil.example/cb",
    ],
)
async def test_registration_refuses_deceptive_redirects(
    client: httpx.AsyncClient, uri: str
) -> None:
    response = await client.post(
        "/oauth/register", json={"client_name": "x", "redirect_uris": [uri]}
    )
    assert response.status_code == 400, uri
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT,
        "https://claude.ai:8443/cb?tenant=1",
        "https://xn--bcher-kva.example/cb",
        "https://192.0.2.1/cb",
        "http://127.0.0.1/callback",
        "http://localhost:3000/cb",
        "http://[::1]/cb",
    ],
)
async def test_registration_accepts_plain_redirects(client: httpx.AsyncClient, uri: str) -> None:
    await register(client, redirect_uris=[uri])


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("https://claude.ai:8443/cb", "claude.ai:8443"),
        ("http://[::1]:5050/cb", "[::1]:5050"),
        (REDIRECT, "claude.ai"),
    ],
)
async def test_consent_names_the_real_host(
    factory: Factory, client: httpx.AsyncClient, uri: str, host: str
) -> None:
    org = await factory.org()
    registered = await register(client, redirect_uris=[uri])
    params = auth_params(registered["client_id"], "x" * 43, redirect_uri=uri)
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    assert f'<strong id="redirect-host">{host}</strong>' in page.text


async def test_a_redirect_registered_before_the_rules_is_not_followed(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    """A client stored while user info was still accepted: its page is an error, and nothing
    ever names claude.ai for an address that goes to evil.example."""
    org = await factory.org()
    services = factory.services
    deceptive = "https://claude.ai:443@evil.example/cb"
    async with services.db.session() as session:
        store = OAuthStore(session, services)
        client_id, _ = await store.register(
            {
                "client_name": "Claude",
                "redirect_uris": [deceptive],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none",
            },
            confidential=False,
        )
    assert display_host(deceptive) == "evil.example"
    params = auth_params(client_id, "x" * 43, redirect_uri=deceptive)
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "claude.ai:443@" not in page.text


async def test_oauth_answers_send_no_referrer(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org()
    registered = await register(client)
    params = auth_params(registered["client_id"], "x" * 43)
    answers = {
        "consent": await org.owner.client.get("/oauth/authorize", params=params),
        "error page": await org.owner.client.get(
            "/oauth/authorize", params={**params, "client_id": "pjc_nobody"}
        ),
        "error redirect": await org.owner.client.get(
            "/oauth/authorize", params={**params, "code_challenge_method": "plain"}
        ),
        "sign-in redirect": await client.get("/oauth/authorize", params=params),
        "token": await client.post("/oauth/token", data={"grant_type": "authorization_code"}),
        "metadata": await client.get("/.well-known/oauth-authorization-server"),
    }
    form = {**params, "csrf_token": org.owner.csrf, "org_id": str(org.id), "decision": "approve"}
    answers["code redirect"] = await org.owner.client.post("/oauth/authorize", data=form)
    assert [answers[k].status_code for k in answers] == [200, 400, 303, 303, 401, 200, 303]
    for what, answer in answers.items():
        assert answer.headers.get("referrer-policy") == "no-referrer", what
