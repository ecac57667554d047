"""OAuth 2.1 on authlib's server classes, configured and subclassed where its defaults differ.

authlib's grants are synchronous and call back into storage; our storage is async. So each
request runs in two halves around authlib: everything it may ask for is loaded first (the
client, the code or refresh token presented), authlib runs the protocol over that state, and
the writes it asks for (save a code, use a code, save a token, rotate a refresh token) are
applied afterwards in one transaction, where the races (two redemptions of one code) are
settled by conditional UPDATEs.

Where authlib's defaults are not OAuth 2.1: PKCE ``plain`` is refused (S256 only, required),
refresh tokens rotate (``INCLUDE_NEW_REFRESH_TOKEN``), replays are detected here.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    JsonRequest,
    OAuth2Payload,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from projekt.core.security import digest, same
from projekt.oauth.models import OAuthClient, OAuthCode, OAuthToken

ACCESS_PREFIX = "pjo_at_"
REFRESH_PREFIX = "pjo_rt_"
SCOPE = "api"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# A second redemption of a code that starts less than this after the winning one was written
# is a concurrent duplicate (a client retrying, a double submit): invalid_grant, and the
# winner's tokens stand. From then on it is a replay and revokes them (RFC 6749 §4.1.2). No
# longer: OpenID's conformance suite replays one second after its first answer and expects that.
CONCURRENT_REDEMPTION = timedelta(seconds=1)


# -- the state one request works on -------------------------------------------------------------


@dataclass
class Exchange:
    """What authlib may ask about during one request, and what it asked to write."""

    now: datetime
    issuer: str
    access_ttl: timedelta
    refresh_grace: timedelta
    client: ClientView | None = None
    code: OAuthCode | None = None
    token: OAuthToken | None = None  # the refresh (or revoked) token presented
    grant_holds: bool = True  # the token's person is still a member of its org (refresh)
    user: Grantee | None = None  # the signed-in person on the consent page
    effects: list[tuple[str, Any]] = field(default_factory=list)


_exchange: ContextVar[Exchange] = ContextVar("oauth_exchange")


def current() -> Exchange:
    return _exchange.get()


def begin(exchange: Exchange) -> None:
    _exchange.set(exchange)


@dataclass(frozen=True)
class Grantee:
    """Who a grant acts for: a person in one org (chosen on the consent page)."""

    user_id: uuid.UUID
    org_id: uuid.UUID

    def get_user_id(self) -> str:
        return str(self.user_id)


# -- models as authlib sees them ----------------------------------------------------------------


def redirect_matches(registered: str, presented: str) -> bool:
    """Exact match, except that a loopback redirect may use any port (RFC 8252 §7.3)."""
    if same(registered, presented):
        return True
    a, b = urlsplit(registered), urlsplit(presented)
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in LOOPBACK_HOSTS
        and a.hostname == b.hostname
        and (a.path, a.query) == (b.path, b.query)
        and not b.fragment
    )


class ClientView(ClientMixin):  # type: ignore[misc]
    """A client as authlib sees it. ``public_id`` is the ``client_id`` it presents: the stored
    one, or for a metadata-document client its URL (stored under ``cimd.stored_id``)."""

    def __init__(self, row: OAuthClient, public_id: str | None = None, stored: bool = True):
        self.row = row
        self.public_id = public_id or row.client_id
        self.stored = stored  # False: a metadata-document client seen for the first time

    @property
    def stored_id(self) -> str:
        """What codes and tokens reference (``oauth_clients.client_id``)."""
        return self.row.client_id

    def get_client_id(self) -> str:
        return self.public_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        return SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_matches(uri, redirect_uri) for uri in self.row.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.client_secret_hash
        return stored is not None and same(stored, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class CodeView(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class TokenView(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthToken) -> None:
        self.row = row

    def check_client(self, client: ClientView) -> bool:
        return self.row.client_id == client.stored_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.access_expires_at - self.row.created_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.family_expires_at <= current().now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


# -- requests as authlib sees them --------------------------------------------------------------


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    @property
    def data(self) -> dict[str, str]:
        return dict(self._pairs)

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self._pairs:
            values[key].append(value)
        return values


class FormRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = FormPayload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Answer:
    """authlib's (status, body, headers), plus ``location`` for redirects (RFC 9207 hook)."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


# -- grants and endpoints -----------------------------------------------------------------------


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required, and only S256: authlib also accepts ``plain`` by default, and lets an
    authorization request with no PKCE parameter at all through even when ``required``."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(
        self, grant: grants.AuthorizationCodeGrant, redirect_uri: str
    ) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        # RFC 7636 §4.3: an omitted method means "plain", which OAuth 2.1 clients must not use.
        if not data.get("code_challenge_method"):
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    AUTHORIZATION_CODE_LENGTH = 43

    def save_authorization_code(self, code: str, request: FormRequest) -> None:
        current().effects.append(("save_code", (code, dict(request.payload.data))))

    def query_authorization_code(self, code: str, client: ClientView) -> CodeView | None:
        exchange = current()
        row = exchange.code
        if row is None or row.client_id != client.stored_id:
            return None
        if not same(row.code_hash, digest(code)):
            return None
        if row.used_at is not None:
            # A replayed code: what it issued is revoked (RFC 9700 §4.2.1 / OAuth 2.1 §4.1.3).
            exchange.effects.append(("replayed_code", row))
            return None
        if row.expires_at <= exchange.now:
            return None
        resource = self.request.payload.data.get("resource")
        if resource and resource != row.resource:
            return None
        return CodeView(row)

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        current().effects.append(("use_code", authorization_code.row))

    def authenticate_user(self, authorization_code: CodeView) -> Grantee:
        return Grantee(authorization_code.row.user_id, authorization_code.row.org_id)


class RotatingRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """Refresh tokens rotate; parallel refreshes inside the grace window all succeed (AI clients
    refresh in parallel), a replay after it revokes the whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenView | None:
        exchange = current()
        row = exchange.token
        if row is None or not same(row.refresh_hash, digest(refresh_token)):
            return None
        if row.revoked_at is not None or row.family_expires_at <= exchange.now:
            return None
        if not exchange.grant_holds:
            # Removed from the org (or deactivated): the grant ends for good, so rejoining
            # later does not bring it back.
            exchange.effects.append(("revoke_family", row.family_id))
            return None
        if row.rotated_at is not None and exchange.now - row.rotated_at > exchange.refresh_grace:
            exchange.effects.append(("revoke_family", row.family_id))
            return None
        return TokenView(row)

    def authenticate_user(self, credential: TokenView) -> Grantee:
        return Grantee(credential.row.user_id, credential.row.org_id)

    def revoke_old_credential(self, refresh_token: TokenView) -> None:
        current().effects.append(("rotate", refresh_token.row))


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        row = current().token
        if row is None:
            return None
        if same(row.access_hash, digest(token_string)) or same(
            row.refresh_hash, digest(token_string)
        ):
            return TokenView(row)
        return None

    def revoke_token(self, token: TokenView, request: FormRequest) -> None:
        # Revoking either half ends the grant: a refresh token's family, or this access token.
        current().effects.append(("revoke", token.row))


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(scopes_supported=[SCOPE])
        self.register_grant(CodeGrant, [S256Only(required=True)])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(Revocation)
        self.register_extension(_Issuer())

    def query_client(self, client_id: str) -> ClientView | None:
        client = current().client
        return client if client is not None and client.get_client_id() == client_id else None

    def save_token(self, token: dict[str, Any], request: FormRequest) -> None:
        current().effects.append(("save_token", (token, request.user)))

    def generate_token(
        self,
        grant_type: str,
        client: ClientView,
        user: Grantee | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token = {
            "token_type": "Bearer",
            "access_token": ACCESS_PREFIX + secrets.token_urlsafe(32),
            "expires_in": int(current().access_ttl.total_seconds()),
            "scope": SCOPE,
        }
        if include_refresh_token:
            token["refresh_token"] = REFRESH_PREFIX + secrets.token_urlsafe(40)
        return token

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def create_json_request(self, request: JsonRequest) -> JsonRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Answer:
        return Answer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class _Issuer(IssuerParameter):  # type: ignore[misc]
    def get_issuer(self) -> str:
        return current().issuer
