"""Client ID Metadata Documents: an https URL as client_id, fetched with the SSRF guard."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from projekt.config import Settings
from projekt.oauth.cimd import MetadataFetcher, MetadataRefused, _public, check_url, parse_document
from tests.factories import Factory
from tests.oauth.tls_server import Documents, tls_server
from tests.private_services import free_port

REDIRECT = "http://127.0.0.1:7777/callback"


@pytest.fixture
def swap_fetcher(app: FastAPI) -> Iterator[Callable[[MetadataFetcher], None]]:
    """Point the app's metadata-document fetcher elsewhere for one test."""
    original = app.state.client_documents

    def swap(replacement: MetadataFetcher) -> None:
        app.state.client_documents = replacement

    yield swap
    app.state.client_documents = original


@pytest.fixture
async def documents(tmp_path: Path) -> AsyncIterator[Documents]:
    async with tls_server(tmp_path) as served:
        yield served


def fetcher(settings: Settings, docs: Documents, **overrides: Any) -> MetadataFetcher:
    values = {"oauth_cimd_allow_private": True, "oauth_cimd_ca_file": docs.ca_file, **overrides}
    return MetadataFetcher(settings.model_copy(update=values))


def document(url: str, **fields: Any) -> dict[str, Any]:
    grants = ["authorization_code", "refresh_token"]
    return {
        "client_id": url,
        "client_name": "Agent",
        "redirect_uris": [REDIRECT],
        "grant_types": grants,
        **fields,
    }


async def test_the_server_advertises_metadata_documents(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["registration_endpoint"].endswith("/oauth/register")  # still offered


async def test_a_document_is_fetched_checked_and_cached(
    settings: Settings, documents: Documents
) -> None:
    url = documents.base + "/agent.json"
    documents.publish("/agent.json", document(url))
    fetch = fetcher(settings, documents)
    first = await fetch.get(url)
    again = await fetch.get(url)
    assert first == again
    assert first.client_name == "Agent (127.0.0.1)"  # the claim, and where it was read
    assert first.redirect_uris == [REDIRECT]
    assert documents.fetches["/agent.json"] == 1


async def test_private_addresses_are_refused_unless_allowed(
    settings: Settings, documents: Documents
) -> None:
    url = documents.base + "/agent.json"
    documents.publish("/agent.json", document(url))
    guarded = fetcher(settings, documents, oauth_cimd_allow_private=False)
    with pytest.raises(MetadataRefused, match="not a public address"):
        await guarded.get(url)
    assert "/agent.json" not in documents.fetches  # refused before any request
    inside = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1", "100.64.0.1"]
    inside += ["::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "224.0.0.1"]
    for address in inside:
        assert not _public(address), address
    assert _public("93.184.215.14") and _public("2606:4700::1111")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://agent.example/client.json", "https"),
        ("https://agent.example", "path"),
        ("https://agent.example/", "path"),
        ("https://me@agent.example/client.json", "user information"),
        ("https://agent.example/client.json#x", "fragment"),
        ("https://agent.example/a b", "printable"),
    ],
)
def test_url_client_ids_are_https_with_a_path(url: str, why: str) -> None:
    with pytest.raises(MetadataRefused, match=why):
        check_url(url)


async def test_a_server_that_cannot_be_reached_is_refused(
    settings: Settings, documents: Documents
) -> None:
    """A connection error (here: a port nobody listens on) is the fetch failing, shown as
    such, not an error page of the server's own."""
    quiet = fetcher(settings, documents)
    with pytest.raises(MetadataRefused, match="could not be fetched"):
        await quiet.get(f"https://127.0.0.1:{free_port()}/agent.json")


async def test_redirects_size_and_time_are_limited(
    settings: Settings, documents: Documents
) -> None:
    fetch = fetcher(settings, documents, oauth_cimd_max_bytes=1024, oauth_cimd_timeout_s=0.5)
    with pytest.raises(MetadataRefused, match="answered 302"):
        await fetch.get(documents.base + "/redirect")
    assert "/elsewhere" not in documents.fetches
    big = documents.base + "/big.json"
    documents.publish("/big.json", document(big, padding="x" * 5000))
    with pytest.raises(MetadataRefused, match="too large"):
        await fetch.get(big)
    with pytest.raises(MetadataRefused, match="too long"):
        await fetch.get(documents.base + "/stall")
    with pytest.raises(MetadataRefused, match="answered 404"):
        await fetch.get(documents.base + "/missing.json")


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"client_id": "https://other.example/client.json"}, "not its own URL"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "'none' only"),
        ({"client_secret": "s3cret"}, "client secret"),
        ({"redirect_uris": ["http://evil.example/cb"]}, "loopback"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"grant_types": ["client_credentials"]}, "grant_types"),
        ({"response_types": ["token"]}, "response_types"),
    ],
)
def test_a_document_must_describe_a_public_client_of_its_own_url(
    fields: dict[str, Any], why: str
) -> None:
    url = "https://agent.example/client.json"
    with pytest.raises(MetadataRefused, match=why):
        parse_document(url, json.dumps(document(url, **fields)).encode())
    with pytest.raises(MetadataRefused, match="not JSON"):
        parse_document(url, b"<html>")


async def test_the_authorization_flow_with_a_url_client_id(
    app: FastAPI,
    settings: Settings,
    documents: Documents,
    factory: Factory,
    client: httpx.AsyncClient,
    swap_fetcher: Callable[[MetadataFetcher], None],
) -> None:
    swap_fetcher(fetcher(settings, documents))
    url = documents.publish("/agent.json", {})
    documents.publish("/agent.json", document(url))
    org = await factory.org()
    person = org.owner
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": url,
        "redirect_uri": REDIRECT,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        "state": "st",
        "resource": "http://testserver/mcp",
    }
    foreign = await person.client.get(
        "/oauth/authorize", params={**params, "redirect_uri": "http://127.0.0.1:7777/other"}
    )
    assert foreign.status_code == 400 and "not registered" in foreign.text
    page = await person.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and "Agent (127.0.0.1)" in page.text
    form = {**params, "csrf_token": person.csrf, "org_id": str(org.id), "decision": "approve"}
    answer = await person.client.post("/oauth/authorize", data=form)
    assert answer.status_code == 303, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": url,
            "code_verifier": verifier,
            "resource": "http://testserver/mcp",
        },
    )
    assert token.status_code == 200, token.text
    tokens = token.json()
    again = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refreshed = await client.post("/oauth/token", data={**again, "client_id": url})
    assert refreshed.status_code == 200, refreshed.text
    assert documents.fetches["/agent.json"] == 1  # cached across the three authorize requests

    documents.publish("/agent.json", document("https://someone.else/agent.json"))
    swap_fetcher(fetcher(settings, documents))
    refused = await person.client.get("/oauth/authorize", params=params)
    assert refused.status_code == 400 and "not its own URL" in refused.text
