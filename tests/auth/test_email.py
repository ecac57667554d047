"""Look-alike addresses (issue 14.15): every form of an existing address either is that
address (NFKC, case, IDNA) or is refused (invisible, control, mixed-script characters)."""

from __future__ import annotations

import unicodedata

import httpx
import pytest

from projekt.auth.schemas import normalize_email
from tests.factories import PASSWORD, Factory, Person, unique
from tests.middleware.test_rate_limit import client as limited_client
from tests.middleware.test_rate_limit import limited_app

FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}  # "a" → "ａ", "@" → "＠"
CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х"}


def fullwidth(email: str) -> str:
    return "".join(FULLWIDTH.get(c, c) for c in email)


def confusable(email: str) -> str:
    """One Latin letter of the local part swapped for its Cyrillic twin."""
    local, domain = email.split("@")
    index = next(i for i, c in enumerate(local) if c in CYRILLIC)
    return local[:index] + CYRILLIC[local[index]] + local[index + 1 :] + "@" + domain


def zero_width(email: str, char: str = "\u200b") -> str:
    return email[:2] + char + email[2:]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ana@Example.TEST", "ana@example.test"),
        ("ａｎａ＠ｅｘａｍｐｌｅ．ｔｅｓｔ", "ana@example.test"),
        ("ana@bücher.example", "ana@xn--bcher-kva.example"),
        ("ana@bu\u0308cher.example", "ana@xn--bcher-kva.example"),
        ("ana@ＢÜＣＨＥＲ.example", "ana@xn--bcher-kva.example"),
        ("  ana+tag@example.test ", "ana+tag@example.test"),
        ("ana@пример.рф", "ana@xn--e1afmkfd.xn--p1ai"),
        ("ana@日本語.jp", "ana@xn--wgv71a119e.jp"),
    ],
)
def test_one_form_per_address(typed: str, stored: str) -> None:
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "аna@example.test",  # Cyrillic а in the local part
        "anа@example.test",
        "josé@example.test",  # the local part is ASCII (see docs/decisions.md)
        "an\u200ba@example.test",  # zero-width space
        "an\u200da@example.test",  # zero-width joiner
        "\ufeffana@example.test",  # byte-order mark
        "ana@exam\u00adple.test",  # soft hyphen (IDNA would silently drop it)
        "ana@example.test\u200e",  # left-to-right mark
        "an\x00a@example.test",
        "an\x1fa@example.test",
        "ana@exаmple.test",  # Latin and Cyrillic in one domain label
        "ana@ex_ample.test",
        "ana@example",
        "ana@example.test.",
        "ana@1.2.3.4",
        "ana@@example.test",
        '"ana"@example.test',
        "a..na@example.test",
        "ana",
        "a" * 65 + "@example.test",
    ],
)
def test_look_alikes_and_junk_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(typed)


async def _signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Look-alike"}
    )


async def _login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})


async def test_look_alikes_of_an_existing_address_make_no_account(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    person = await factory.person(unique("peace"))  # has letters with Cyrillic twins
    stored = person.email.lower()
    same = {
        "fullwidth": fullwidth(person.email),
        "upper case": person.email.upper(),
    }
    refused = {
        "cyrillic": confusable(person.email),
        "zero-width space": zero_width(person.email),
        "zero-width joiner": zero_width(person.email, "\u200d"),
        "soft hyphen": zero_width(person.email, "\u00ad"),
        "control": zero_width(person.email, "\x07"),
    }
    for why, email in same.items():
        answer = await _signup(client, email)
        assert answer.status_code == 409, why
        assert answer.json()["code"] == "email_taken", why
        login = await _login(client, email)
        assert login.status_code == 200, why
        assert login.json()["user"]["id"] == str(person.user_id), why
        assert login.json()["user"]["email"] == stored, why
    for why, email in refused.items():
        answer = await _signup(client, email)
        assert answer.status_code == 422, why
        assert set(answer.json()["errors"]) == {"email"}, why
        assert (await _login(client, email)).status_code == 401, why


async def test_decomposed_and_composed_forms_are_one_account(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    local = unique("ana")
    composed = f"{local}@bücher.example"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    created = await _signup(client, composed)
    assert created.status_code == 201, created.text
    assert created.json()["user"]["email"] == f"{local}@xn--bcher-kva.example"
    assert (await _signup(client, decomposed)).status_code == 409
    login = await _login(client, decomposed)
    assert login.status_code == 200
    assert login.json()["user"]["id"] == created.json()["user"]["id"]


async def test_web_signup_refuses_look_alikes(factory: Factory, client: httpx.AsyncClient) -> None:
    person = await factory.person(unique("peace"))
    for email in (fullwidth(person.email), confusable(person.email), zero_width(person.email)):
        form = {"email": email, "password": PASSWORD, "name": "Look-alike"}
        same_site = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
        answer = await client.post("/app/signup", data=form, headers=same_site)
        assert answer.status_code in (409, 422), email
        assert "set-cookie" not in answer.headers


async def test_invitations_take_the_same_email_type(factory: Factory) -> None:
    org = await factory.org()
    owner: Person = org.owner
    refused = await owner.client.post(
        "/api/orgs/invitations",
        json={"email": zero_width("ana@example.test")},
        headers=owner.headers(org.id),
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"email"}
    invited = await owner.client.post(
        "/api/orgs/invitations",
        json={"email": fullwidth("Ana@Example.test")},
        headers=owner.headers(org.id),
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["email"] == "ana@example.test"


async def test_look_alikes_share_the_account_sign_in_bucket(migrated: object) -> None:
    async with limited_app(rate_limit_login_account="3/60s") as app:
        person = await Factory(app).person(unique("peace"))
        forms = [person.email, fullwidth(person.email), person.email.upper(), person.email]
        codes = []
        for n, email in enumerate(forms):
            async with limited_client(app, peer=f"127.0.2.{n}") as c:
                answer = await c.post(
                    "/api/auth/login", json={"email": email, "password": "wrong password"}
                )
                codes.append(answer.status_code)
    assert codes == [401, 401, 401, 429]
