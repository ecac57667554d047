"""Tier-1 tests of the security test plan that no domain's tests cover (IDs as in the plan).

B1 token entropy, B11 constant-time comparisons, B12 no secret in the repository, E3 the
misconfiguration checks, F3 no CORS, F4 cookie attributes. docs/security.md maps every
control to its test.
"""

from __future__ import annotations

import ast
import collections
import inspect
import math
import re
import subprocess
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from projekt.core import security
from projekt.core.security import BASE62, PAT_BODY_LENGTH, new_pat
from projekt.main import create_app
from tests.conftest import client_for, make_settings
from tests.factories import PASSWORD, Factory, unique

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "projekt"


def _chi_square_limit(df: int, z: float) -> float:
    """Wilson–Hilferty: the chi-square value exceeded with the normal tail probability of z."""
    h = 2 / (9 * df)
    return df * (1 - h + z * math.sqrt(h)) ** 3


def test_b1_pats_are_well_formed_unique_and_uniform() -> None:
    tokens = [new_pat() for _ in range(40_000)]
    shape = re.compile(rf"^pjk_live_[0-9A-Za-z]{{{PAT_BODY_LENGTH}}}$")
    assert all(shape.match(t) for t in tokens)
    assert len(set(tokens)) == len(tokens)
    # Each position uniform over the 62 characters. z = 6.1 is a tail of about 5e-10 per
    # position, so a healthy generator fails this once in billions of runs, while a biased
    # one (a character twice as likely, a fixed position) fails at once.
    limit = _chi_square_limit(len(BASE62) - 1, 6.1)
    expected = len(tokens) / len(BASE62)
    for position in range(PAT_BODY_LENGTH):
        seen = collections.Counter(t[9 + position] for t in tokens)
        statistic = sum((seen.get(c, 0) - expected) ** 2 / expected for c in BASE62)
        assert statistic < limit, f"position {position}: chi-square {statistic:.0f}"
    # 32 base62 characters from the operating system's CSPRNG: about 190 bits.
    assert "secrets.choice" in inspect.getsource(security.random_base62)
    assert PAT_BODY_LENGTH * math.log2(len(BASE62)) > 190


SECRET_NAME = re.compile(r"(secret|verifier|csrf|_hash$|^hash$|^token$|^code$)", re.IGNORECASE)


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return [str(node.slice.value)]
    return []


def test_b11_secrets_are_never_compared_with_equality() -> None:
    """Secrets are compared with ``security.same`` (hmac.compare_digest), never ``==``.

    A comparison of two values of which one is named like a secret is flagged; comparing with a
    literal (``grant_type == "refresh_token"``) is not a secret comparison. Lookups by digest
    in SQL are not timing oracles (see ``security.digest``).
    """
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Constant) for side in sides):
                continue
            # ``Model.column == value`` builds SQL (a lookup by digest); it compares nothing here.
            if any(_is_column(side) for side in sides):
                continue
            if any(SECRET_NAME.search(name) for side in sides for name in _names(side)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
    assert "compare_digest" in inspect.getsource(security.same)


def _is_column(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id[:1].isupper()
    )


# What a leaked credential looks like: ours (PATs, OAuth tokens, sessions), keys, webhook secrets.
LEAK_PATTERNS = [
    re.compile(r"pjk_live_[0-9A-Za-z]{32}"),
    re.compile(r"pj[ors]_(at_|rt_)?[A-Za-z0-9_-]{40,}"),
    re.compile(r"-----BEGIN (RSA |EC |OPENSSH |)PRIVATE KEY-----"),
    re.compile(r"whsec_[A-Za-z0-9+/]{40,}"),
    # An argon2 hash; the benchmark's seed uses one with an all-zero digest, which no password
    # matches, so that one is not a secret.
    re.compile(
        r"\$argon2id?\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{16,}\$(?!0{20})[A-Za-z0-9+/]{20,}"
    ),
]


def test_b12_the_repository_holds_no_secret() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:  # pragma: no cover - a source tree without git
        pytest.skip("not a git checkout")
    findings = []
    for name in listed.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for pattern in LEAK_PATTERNS:
            findings += [f"{name}: {m.group(0)[:16]}…" for m in pattern.finditer(text)]
    assert findings == []


async def test_e3_no_trace_no_docs_and_a_500_tells_nothing(client: httpx.AsyncClient) -> None:
    trace = await client.request("TRACE", "/api/me")
    assert trace.status_code == 405
    assert trace.json()["code"] == "method_not_allowed"
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "not_found"
    assert "x-powered-by" not in trace.headers
    # The spec is public on purpose (Projekt publishes its reference).
    assert (await client.get("/openapi.json")).status_code == 200


async def test_f3_no_cross_origin_reads(factory: Factory) -> None:
    """No CORS at all: the API is for scripts, apps on their own origin and agents, not for
    other sites' pages. A preflight gets no permission and nothing reflects an Origin."""
    person = await factory.person()
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        preflight = await person.client.options(
            "/api/me",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-org-id",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-credentials" not in preflight.headers
        read = await person.client.get("/api/me", headers={"Origin": origin})
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    raw = response.headers.get_list("set-cookie")
    return {header.split("=", 1)[0]: header for header in raw}


async def test_f4_cookie_attributes(factory: Factory) -> None:
    person = await factory.person()
    signin = await person.client.post(
        "/api/auth/login", json={"email": person.email, "password": PASSWORD}
    )
    assert signin.status_code == 200, signin.text
    cookies = _set_cookies(signin)
    session = cookies["projekt_session"]
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute.lower() in session.lower(), session
    assert "domain=" not in session.lower()
    for header in cookies.values():
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        assert all(len(k) + len(m.value) <= 4096 for k, m in jar.items())


async def test_f4_cookies_are_host_prefixed_and_secure_on_https() -> None:
    settings = make_settings(base_url="https://projekt.example", allowed_hosts=["testserver"])
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as client:
        email = f"{unique('https')}@example.test"
        signup = await client.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Https"}
        )
        assert signup.status_code == 201, signup.text
        cookies = _set_cookies(signup)
        assert cookies, "signup sets its cookies"
        for name, header in cookies.items():
            assert name.startswith("__Host-"), name
            lowered = header.lower()
            assert "; secure" in lowered and "path=/" in lowered and "domain=" not in lowered


def test_docs_security_names_only_tests_that_exist() -> None:
    """docs/security.md maps each control to its tests; a renamed or deleted test breaks it."""
    text = (ROOT / "docs" / "security.md").read_text()
    missing = []
    named = 0
    for row in text.splitlines():
        current: Path | None = None
        for ref in re.findall(r"`([^`]+)`", row):
            path_part, _, test = ref.partition("::")
            if path_part.endswith(".py") and Path(path_part).name.startswith("test_"):
                current = ROOT / "tests" / path_part
                if "*" in path_part:
                    current = None
                    continue
                if not current.is_file():
                    missing.append(path_part)
                    continue
            if not test or current is None:
                continue
            named += 1
            if not re.search(rf"^(async )?def {re.escape(test)}\(", current.read_text(), re.M):
                missing.append(f"{current.relative_to(ROOT)}::{test}")
    assert named > 50
    assert missing == []
