"""A refused form shows its page again with the API's status and a reason in words, and
changes nothing (web/forms.py): the rule every page's forms share."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from projekt.core.context import Role
from projekt.core.errors import AppError, Conflict, PreconditionFailed
from projekt.web.forms import STALE, Shown, refusal, submit
from tests.factories import Factory

INTEGRATIONS = "/app/organization/settings/general/integraciones"


class _Named(BaseModel):
    name: str = Field(min_length=1)


def test_a_stale_form_says_so_in_words() -> None:
    assert refusal(PreconditionFailed()) == (412, STALE)


def test_a_refusal_names_each_field_the_service_rejected() -> None:
    exc = AppError("Invalid.", errors={"name": ["is taken"], "slug": ["is too short"]})
    assert refusal(exc) == (500, "is taken; is too short")
    assert refusal(Conflict("The last owner stays.")) == (409, "The last owner stays.")


def test_a_form_model_refusal_is_422_and_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        _Named(name="")
    status, message = refusal(caught.value)
    assert status == 422 and message.startswith("name: ")


async def test_submit_answers_with_the_page_again_and_keeps_the_result_otherwise() -> None:
    shown: list[tuple[int, str]] = []

    async def again(status_code: int, message: str) -> object:
        shown.append((status_code, message))
        return _FakeResponse(status_code)

    async def refused() -> int:
        raise Conflict("No.")

    async def accepted() -> int:
        return 7

    assert await submit(accepted, again) == 7  # type: ignore[arg-type]
    with pytest.raises(Shown) as caught:
        await submit(refused, again)  # type: ignore[arg-type]
    assert caught.value.response.status_code == 409
    assert shown == [(409, "No.")]


class _FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


async def test_a_viewer_minting_a_key_sees_why_and_no_key_exists(factory: Factory) -> None:
    org = await factory.org(roles=(Role.VIEWER,))
    viewer = org.members[Role.VIEWER]
    viewer.client.cookies.set("projekt_org", str(org.id))
    answer = await viewer.client.post(
        f"{INTEGRATIONS}/keys", data={"csrf_token": viewer.csrf, "name": "mine"}
    )
    assert answer.status_code == 403
    assert "Your role cannot create API keys." in answer.text
    await _no_keys_named(factory, org, "mine")


@pytest.mark.parametrize(
    ("form", "words"),
    [({"name": "ci", "expires_on": "tomorrow"}, "tomorrow"), ({"name": "   "}, "name")],
)
async def test_a_refused_key_form_is_422_with_the_reason_and_mints_nothing(
    factory: Factory, form: dict[str, str], words: str
) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    manager = org.members[Role.MANAGER]
    manager.client.cookies.set("projekt_org", str(org.id))
    answer = await manager.client.post(
        f"{INTEGRATIONS}/keys", data={"csrf_token": manager.csrf, **form}
    )
    assert answer.status_code == 422
    assert words in answer.text and "Integraciones" in answer.text
    await _no_keys_named(factory, org, form["name"])


async def _no_keys_named(factory: Factory, org: object, name: str) -> None:
    owner = org.owner  # type: ignore[attr-defined]
    keys = await owner.client.get(
        "/api/api-keys?all=true",
        headers=owner.headers(org.id),  # type: ignore[attr-defined]
    )
    assert keys.status_code == 200
    assert [k for k in keys.json() if k["name"] == name] == []
