"""Which strings are shaped like a personal access token (checked on every bearer request
before any lookup)."""

from __future__ import annotations

import pytest

from projekt.core.security import PAT_PREFIX, looks_like_pat, new_pat

BODY = "aZ09" * 8


def test_every_minted_token_has_the_shape() -> None:
    assert all(looks_like_pat(new_pat()) for _ in range(200))


@pytest.mark.parametrize(
    "token",
    [
        PAT_PREFIX + BODY[:-1],  # one short
        PAT_PREFIX + BODY + "a",  # one long
        PAT_PREFIX + BODY + "\n",  # a trailing newline ($ would take it)
        PAT_PREFIX + BODY[:-1] + "-",  # outside base62
        PAT_PREFIX + BODY[:-1] + "\u0663",  # a non-ASCII digit
        PAT_PREFIX + BODY[:-1] + "é",
        "pjk_test_" + BODY,  # another prefix
        " " + PAT_PREFIX + BODY,
        "",
    ],
)
def test_near_misses_are_not_tokens(token: str) -> None:
    assert not looks_like_pat(token)


def test_the_body_alone_is_not_a_token() -> None:
    assert looks_like_pat(PAT_PREFIX + BODY)
    assert not looks_like_pat(BODY)
