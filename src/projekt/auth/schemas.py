from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Annotated

import idna
from pydantic import AfterValidator, Field

from projekt.core.schemas import NOT_BLANK, InputModel, OutputModel

# RFC 5322 dot-atom: letters, digits and !#$%&'*+/=?^_`{|}~- in dot-separated runs.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# Chinese, Japanese and Korean domain labels mix these scripts as a matter of course.
_CJK = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"})
USERNAME_PATTERN = r"^[a-zA-Z0-9_.-]{2,40}$"


def normalize_email(value: str) -> str:
    """The one form an address is stored, compared and looked up in (docs/decisions.md):
    NFKC, no invisible or control characters, an ASCII local part in lower case, and the
    domain in IDNA A-labels (punycode), each label written in one script. Look-alikes of an
    address either become that address or are refused."""
    value = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ValueError("must not contain invisible or control characters")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("must be a valid email address")
    if len(local) > 64 or not local.isascii() or not _LOCAL_PART.match(local):
        raise ValueError(
            "the part before @ must be ASCII letters, digits, dots and !#$%&'*+/=?^_`{|}~-"
        )
    address = f"{local.lower()}@{_ascii_domain(domain)}"
    if len(address) > 254:
        raise ValueError("must be at most 254 characters")
    return address


def _ascii_domain(domain: str) -> str:
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise ValueError("the domain is not a valid domain name") from None
    labels = encoded.split(".")
    if len(labels) < 2 or not all(labels) or labels[-1].isdigit():
        raise ValueError("the domain is not a valid domain name")
    for label in labels:
        if label.startswith("xn--") and len(_scripts(idna.decode(label))) > 1:
            raise ValueError("each part of the domain must be written in one script")
    return encoded


def _scripts(label: str) -> set[str]:
    """The scripts of a label's letters, by the first word of each letter's Unicode name
    (LATIN, CYRILLIC, GREEK, …); Chinese, Japanese and Korean count as one."""
    found = set()
    for char in label:
        if unicodedata.category(char).startswith("L"):
            script = re.split(r"[ -]", unicodedata.name(char, "UNKNOWN"))[0]
            found.add("CJK" if script in _CJK else script)
    return found


# Every schema that takes an email address takes this type. Bounded before normalizing: NFKC
# can expand a character many times over.
Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(normalize_email),
]


class SignupIn(InputModel):
    email: Email
    password: str = Field(min_length=10, max_length=1024)
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class LoginIn(InputModel):
    # Taken as typed and normalized by the service (normalize_email): an address that cannot
    # be normalized is the same 401 as an unknown one, so sign-in never says which was wrong.
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class MeRead(OutputModel):
    id: uuid.UUID
    email: str
    name: str
    username: str | None
    locale: str


class SessionRead(OutputModel):
    """Answer to sign-up and sign-in; the session itself travels in the HttpOnly cookie."""

    user: MeRead
    csrf_token: str = Field(description="Send as X-CSRF-Token on cookie-authenticated writes.")
