"""OAuth 2.1 (the C-series of the test plan): metadata, registration, PKCE, codes, rotation."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from projekt.core.context import Role
from projekt.oauth.server import CONCURRENT_REDEMPTION
from tests.factories import Factory, Org, Person
from tests.support import MovableClock

BASE = "http://testserver"
RESOURCE = f"{BASE}/api"
REDIRECT = "https://claude.ai/api/mcp/auth_callback"


async def register(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    payload = {"client_name": "Claude", "redirect_uris": [REDIRECT], **body}
    response = await client.post("/oauth/register", json=payload)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def auth_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-123",
        "resource": RESOURCE,
        **extra,
    }


async def consent(
    person: Person, org: Org, params: dict[str, str], decision: str = "approve"
) -> httpx.Response:
    page = await person.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {**params, "csrf_token": person.csrf, "org_id": str(org.id), "decision": decision}
    return await person.client.post("/oauth/authorize", data=form)


async def code_for(person: Person, org: Org, client_id: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    answer = await consent(
        person, org, auth_params(client_id, create_s256_code_challenge(verifier))
    )
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st-123"]
    assert query["iss"] == [BASE]
    return query["code"][0], verifier


async def exchange(
    client: httpx.AsyncClient, client_id: str, code: str, verifier: str
) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": RESOURCE,
        },
    )


async def refresh(client: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
    )


async def test_metadata(client: httpx.AsyncClient) -> None:
    server = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert server["issuer"] == BASE
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["response_types_supported"] == ["code"]
    assert server["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert "none" in server["token_endpoint_auth_methods_supported"]
    assert server["authorization_response_iss_parameter_supported"] is True
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/api",
    ):
        resource = (await client.get(path)).json()
        assert resource["resource"] == RESOURCE
        assert resource["authorization_servers"] == [BASE]


@pytest.mark.parametrize(
    "uris",
    [
        ["http://example.com/cb"],
        ["https://example.com/cb#frag"],
        ["javascript:alert(1)"],
        ["data:text/html,hi"],
        ["https://" + "a" * 2100 + ".com/"],
    ],
)
async def test_registration_refuses_bad_redirects(
    client: httpx.AsyncClient, uris: list[str]
) -> None:
    response = await client.post(
        "/oauth/register", json={"client_name": "x", "redirect_uris": uris}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


async def test_registration_public_and_confidential(client: httpx.AsyncClient) -> None:
    public = await register(client, redirect_uris=["http://127.0.0.1/callback"])
    assert public["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in public
    confidential = await register(client, token_endpoint_auth_method="client_secret_basic")
    assert confidential["client_secret"].startswith("pjs_")
    assert (await client.post("/oauth/register", json={"redirect_uris": []})).status_code == 400


async def test_full_flow_binds_the_chosen_org(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org()
    other = await factory.org(owner=org.owner)
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    tokens = await exchange(client, registered["client_id"], code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("pjo_at_")
    async with factory.client(Authorization=f"Bearer {body['access_token']}") as agent:
        me_orgs = (await agent.get("/api/me/orgs")).json()
        assert [o["org_id"] for o in me_orgs["orgs"]] == [str(org.id)]
        assert (await agent.get(f"/api/orgs/{other.id}")).status_code == 404
        assert (await agent.post("/api/orgs", json={"name": "x"})).status_code == 403
        mismatch = await agent.get("/api/team", headers={"X-Org-Id": str(other.id)})
        assert mismatch.status_code == 403


async def test_pkce_is_required_and_plain_refused(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    person = org.owner
    for params in (
        {**auth_params(registered["client_id"], "x" * 43), "code_challenge_method": "plain"},
        {
            k: v
            for k, v in auth_params(registered["client_id"], "x" * 43).items()
            if k != "code_challenge"
        },
    ):
        page = await person.client.get("/oauth/authorize", params=params)
        assert page.status_code == 303
        assert "error=invalid_request" in page.headers["location"]
    code, verifier = await code_for(person, org, registered["client_id"])
    wrong = await exchange(client, registered["client_id"], code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


async def test_unregistered_redirect_gets_a_page_not_a_redirect(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    params = auth_params(registered["client_id"], "x" * 43, redirect_uri="https://evil.example/cb")
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    unknown = await org.owner.client.get("/oauth/authorize", params=auth_params("nope", "x" * 43))
    assert unknown.status_code == 400


async def test_resource_is_required(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org()
    registered = await register(client)
    params = auth_params(
        registered["client_id"], "x" * 43, resource="https://elsewhere.example/api"
    )
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 303
    assert "error=invalid_target" in page.headers["location"]


async def test_loopback_redirect_any_port(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org()
    registered = await register(client, redirect_uris=["http://127.0.0.1/callback"])
    params = auth_params(
        registered["client_id"], "x" * 43, redirect_uri="http://127.0.0.1:53111/callback"
    )
    page = await org.owner.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200
    assert "127.0.0.1:53111" in page.text


async def test_signed_out_goes_to_sign_in_and_back(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    registered = await register(client)
    page = await client.get(
        "/oauth/authorize", params=auth_params(registered["client_id"], "x" * 43)
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/app/login?next=%2Foauth%2Fauthorize")


async def test_consent_page_cannot_be_framed(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org()
    registered = await register(client)
    page = await org.owner.client.get(
        "/oauth/authorize", params=auth_params(registered["client_id"], "x" * 43)
    )
    assert page.headers["x-frame-options"] == "DENY"
    assert "Claude" in page.text
    assert "claude.ai" in page.text


async def test_deny_redirects_with_access_denied(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    answer = await consent(org.owner, org, auth_params(registered["client_id"], "x" * 43), "deny")
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st-123"]


async def test_code_replay_revokes_what_it_issued(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    first = await exchange(client, registered["client_id"], code, verifier)
    access = first.json()["access_token"]
    time_travel.advance(CONCURRENT_REDEMPTION)  # no longer a concurrent duplicate: a replay
    replay = await exchange(client, registered["client_id"], code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    async with factory.client(Authorization=f"Bearer {access}") as agent:
        assert (await agent.get("/api/me")).status_code == 401


async def test_concurrent_redemption_has_one_winner(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    answers = await asyncio.gather(
        *(exchange(client, registered["client_id"], code, verifier) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400, 400]


async def test_code_expires(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    time_travel.advance(timedelta(seconds=61))
    late = await exchange(client, registered["client_id"], code, verifier)
    assert late.json()["error"] == "invalid_grant"


async def test_refresh_rotates_with_a_grace_window(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    first = (await exchange(client, registered["client_id"], code, verifier)).json()
    parallel = await asyncio.gather(
        *(refresh(client, registered["client_id"], first["refresh_token"]) for _ in range(3))
    )
    assert [p.status_code for p in parallel] == [200, 200, 200], [p.text for p in parallel]
    tokens = [p.json()["access_token"] for p in parallel]
    assert len(set(tokens)) == 3
    for token in tokens:  # every caller's token works, none overwrote another
        async with factory.client(Authorization=f"Bearer {token}") as agent:
            assert (await agent.get("/api/me")).status_code == 200
    assert parallel[0].json()["refresh_token"] != first["refresh_token"]
    time_travel.advance(timedelta(minutes=3))  # past the grace window: a replay
    replay = await refresh(client, registered["client_id"], first["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    for token in tokens:  # the whole family is revoked
        async with factory.client(Authorization=f"Bearer {token}") as agent:
            assert (await agent.get("/api/me")).status_code == 401


async def test_access_token_lifetime_and_absolute_cap(
    factory: Factory, client: httpx.AsyncClient, time_travel: MovableClock
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    tokens = (await exchange(client, registered["client_id"], code, verifier)).json()
    time_travel.advance(timedelta(hours=1, seconds=1))
    async with factory.client(Authorization=f"Bearer {tokens['access_token']}") as agent:
        assert (await agent.get("/api/me")).status_code == 401
    time_travel.advance(timedelta(days=91))
    capped = await refresh(client, registered["client_id"], tokens["refresh_token"])
    assert capped.json()["error"] == "invalid_grant"


async def test_live_role_and_revocation(factory: Factory, client: httpx.AsyncClient) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    admin = org.members[Role.ADMIN]
    registered = await register(client)
    code, verifier = await code_for(admin, org, registered["client_id"])
    tokens = (await exchange(client, registered["client_id"], code, verifier)).json()
    async with factory.client(Authorization=f"Bearer {tokens['access_token']}") as agent:
        assert (await agent.patch(f"/api/orgs/{org.id}", json={"name": "x"})).status_code == 200
        await org.owner.client.patch(
            f"/api/team/{org.employee_ids[Role.ADMIN]}",
            json={"role": "viewer"},
            headers=org.owner.headers(org.id),
        )
        assert (await agent.patch(f"/api/orgs/{org.id}", json={"name": "y"})).status_code == 403
        revoked = await client.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"], "client_id": registered["client_id"]},
        )
        assert revoked.status_code == 200
        assert (await agent.get("/api/me")).status_code == 401
    again = await refresh(client, registered["client_id"], tokens["refresh_token"])
    assert again.json()["error"] == "invalid_grant"


async def test_confidential_client_must_authenticate(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client, token_endpoint_auth_method="client_secret_basic")
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    no_secret = await exchange(client, registered["client_id"], code, verifier)
    assert no_secret.status_code == 401
    assert no_secret.json()["error"] == "invalid_client"
    code, verifier = await code_for(org.owner, org, registered["client_id"])  # that one burnt
    good = await client.post(
        "/oauth/token",
        auth=(registered["client_id"], registered["client_secret"]),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert good.status_code == 200, good.text


async def test_token_endpoint_outage_is_503_not_invalid_grant(migrated: object) -> None:
    import tempfile

    from projekt.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url=f"sqlite+aiosqlite:///{tempfile.mkdtemp()}"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        response = await c.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "pjo_rt_x", "client_id": "pjc_x"},
        )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"]


@pytest.mark.parametrize("failures", [1, 100])
async def test_a_failed_commit_of_the_exchange_answers_in_oauth_form(
    factory: Factory, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    """The exchange's commit fails (the database went away at that moment, or only that
    commit failed): the client gets RFC 6749's ``temporarily_unavailable``, not the API's
    envelope and never a token, and nothing of the exchange stays, not even through a later
    commit of the same session (the same code redeems once the database is back)."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncSession

    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    commits: list[AsyncSession] = []

    commit = AsyncSession.commit

    async def lost(session: AsyncSession) -> None:
        commits.append(session)
        if len(commits) > failures:
            return await commit(session)
        raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    with monkeypatch.context() as patch:
        patch.setattr(AsyncSession, "commit", lost)
        failed = await exchange(client, registered["client_id"], code, verifier)
    assert commits, "the exchange did not commit"
    assert failed.status_code == 503, failed.text
    assert failed.json() == {
        "error": "temporarily_unavailable",
        "error_description": "Try again shortly.",
    }
    assert failed.headers["retry-after"] == "5"
    assert failed.headers["cache-control"] == "no-store"
    again = await exchange(client, registered["client_id"], code, verifier)
    assert again.status_code == 200, again.text
    assert again.json()["access_token"]


async def test_registration_is_rate_limited(migrated: object) -> None:
    from tests.middleware.test_rate_limit import client as limited_client
    from tests.middleware.test_rate_limit import limited_app

    async with (
        limited_app(rate_limit_oauth_register="2/1h") as app,
        limited_client(app, peer="127.0.5.5") as c,
    ):
        codes = [
            (await c.post("/oauth/register", json={"redirect_uris": [REDIRECT]})).status_code
            for _ in range(3)
        ]
    assert codes == [201, 201, 429]


async def test_code_is_bound_to_client_redirect_and_resource(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client, redirect_uris=[REDIRECT, "https://claude.com/cb"])
    intruder = await register(client)
    mismatches = [
        ("invalid_grant", {"redirect_uri": REDIRECT, "client_id": intruder["client_id"]}),
        (
            "invalid_grant",
            {"redirect_uri": "https://claude.com/cb", "client_id": registered["client_id"]},
        ),
        (
            "invalid_target",
            {
                "redirect_uri": REDIRECT,
                "client_id": registered["client_id"],
                "resource": "https://elsewhere.example/api",
            },
        ),
    ]
    for error, mismatch in mismatches:
        code, verifier = await code_for(org.owner, org, registered["client_id"])
        base = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        refused = await client.post("/oauth/token", data={**base, **mismatch})
        assert refused.json()["error"] == error
        # The failed redemption burnt the code: the rightful one fails too (test plan C5/C7).
        burnt = await exchange(client, registered["client_id"], code, verifier)
        assert burnt.json()["error"] == "invalid_grant"


async def test_tokens_answer_only_for_their_audience(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    from projekt.main import create_app
    from tests.conftest import make_settings

    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    access = (await exchange(client, registered["client_id"], code, verifier)).json()[
        "access_token"
    ]
    elsewhere = create_app(make_settings(base_url="https://other.example"))
    transport = httpx.ASGITransport(app=elsewhere)
    async with httpx.AsyncClient(transport=transport, base_url="https://other.example") as c:
        response = await c.get("/api/me", headers={"Authorization": f"Bearer {access}"})
    await elsewhere.state.services.fast.close()
    await elsewhere.state.services.db.dispose()
    assert response.status_code == 401
