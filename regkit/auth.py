"""Step 2, ``get_token``: the 401 challenge and Docker's token protocol; renewal of expired tokens."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests

from . import mediatypes as mt
from .challenge import Challenge, find_challenge, parse_challenges
from .client import AuthArg, Client, Credentials, as_reference
from .errors import AuthError, TransportError
from .exchange import Exchange
from .httperrors import who_answered
from .jwt import JwtClaims, decode_claims
from .redact import fingerprint, redact_json
from .reference import Reference
from .transport import HttpResponse

MAX_TOKEN_RESPONSE = 1 << 20
DEFAULT_EXPIRES_IN = 60  # seconds, when the token service does not say (token spec)
# Renew a little early so a token does not expire between the check and the request.
EXPIRY_MARGIN = 5


@dataclass(frozen=True)
class Token:
    """What to put in ``Authorization``: a Bearer token, Basic credentials, or nothing (open registry)."""

    kind: str  # "bearer", "basic" or "none"
    value: str = field(default="", repr=False)
    realm: str = ""
    service: str = ""
    scope: str = ""
    expires_in: int = 0
    issued_at: datetime | None = None
    obtained_at: float = 0.0
    challenge: Challenge | None = None
    exchanges: tuple[Exchange, ...] = field(default=(), repr=False)

    @property
    def expires_at(self) -> float | None:
        """Wall-clock expiry (epoch seconds) of a Bearer token, counted from when we received it."""
        return self.obtained_at + self.expires_in if self.kind == "bearer" else None

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until expiry (negative when expired), None when it never expires."""
        expires = self.expires_at
        return None if expires is None else expires - (time.time() if now is None else now)

    @property
    def claims(self) -> JwtClaims | None:
        """The JWT claims of a Bearer token (issuer, access, expiry), unverified; None if it is no JWT."""
        return decode_claims(self.value) if self.kind == "bearer" else None

    @property
    def expired(self) -> bool:
        """True when a Bearer token is (about to be) past its lifetime."""
        left = self.seconds_left()
        return left is not None and left < EXPIRY_MARGIN

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for registry requests (empty when none is needed)."""
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.value}"}
        if self.kind == "basic":
            return {"Authorization": f"Basic {self.value}"}
        return {}

    def __repr__(self) -> str:
        secret = f", value={fingerprint(self.value)!r}" if self.value else ""
        return (
            f"Token(kind={self.kind!r}{secret}, service={self.service!r}, scope={self.scope!r}, "
            f"expires_in={self.expires_in})"
        )

    def _repr_html_(self) -> str:
        from .display.html import token_html

        return token_html(self)


def challenges_of(exchange: Exchange) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` headers of a response."""
    values = [v for k, v in exchange.response_headers if k.lower() == "www-authenticate"]
    return parse_challenges(", ".join(values))


def get_token(ref: Reference | str, *, client: Client | None = None, auth: AuthArg = None) -> Token:
    """Probe the manifest without credentials; on a 401 challenge, obtain a token for pulling ``ref``."""
    ref = as_reference(ref)
    client = client or Client(auth=auth)
    url, meant = client.registry_url(ref, f"manifests/{ref.identifier}")
    # A HEAD on the manifest (as containerd does) gets the challenge with the exact scope and
    # does not count as a pull on Docker Hub.
    probe = client.send("token", "HEAD", url, headers={"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}, original_url=meant)
    probe.close()
    if probe.status != 401:
        return Token("none", exchanges=(probe.exchange,))
    return token_from_challenge(client, ref, probe.exchange)


def token_from_challenge(
    client: Client, ref: Reference, unauthorized: Exchange, *, renew: bool = False, scope: str | None = None
) -> Token:
    """The token a 401 response asks for (or for ``scope``), from the cache unless ``renew`` or expired."""
    challenges = challenges_of(unauthorized)
    bearer = find_challenge(challenges, "bearer")
    if bearer is not None:
        if not bearer.realm:
            raise AuthError("the registry's Bearer challenge has no realm to ask for a token", exchange=unauthorized)
        return _bearer_token(client, ref, scope or bearer.scope or ref.scope, bearer, unauthorized, renew=renew)
    if find_challenge(challenges, "basic") is not None:
        credentials = client.credentials_for(ref)
        if credentials is None:
            raise AuthError(
                f"{ref.registry} wants a username and password (HTTP Basic)",
                exchange=unauthorized,
                hint="pass -u USER --password-stdin, or auth=(user, password)",
            )
        return Token("basic", basic(credentials), challenge=challenges[0], exchanges=(unauthorized,))
    shown = ", ".join(str(c.scheme) for c in challenges) or "no WWW-Authenticate header"
    raise AuthError(f"the registry answered 401 with a challenge regkit cannot answer ({shown})", exchange=unauthorized)


def basic(credentials: Credentials) -> str:
    """The base64 ``user:password`` of HTTP Basic."""
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


def _bearer_token(
    client: Client, ref: Reference, scope: str, challenge: Challenge, probe: Exchange, *, renew: bool
) -> Token:
    service = challenge.service or ""
    realm = client.endpoints.realm(challenge.realm or "")
    key = (realm, service, scope)
    with client.token_lock:
        cached = client.tokens.get(key)
        if cached is not None and not renew and not cached.expired:
            return cached
        token = request_token(client, realm, service, scope, challenge, probe, client.credentials_for(ref))
        client.tokens[key] = token
        return token


def request_token(
    client: Client,
    realm: str,
    service: str,
    scope: str,
    challenge: Challenge,
    probe: Exchange,
    credentials: Credentials | None,
    note: str = "",
) -> Token:
    """``GET realm?service=…&scope=…`` (HTTP Basic when logged in) and parse the token response."""
    params = [
        (name, value) for name, value in (("service", service), *(("scope", s) for s in scope.split(" "))) if value
    ]
    headers = {"Authorization": f"Basic {basic(credentials)}"} if credentials else {}
    try:
        response = client.send(
            "token",
            "GET",
            realm,
            params=params,
            headers=headers,
            original_url=requests.Request("GET", challenge.realm, params=params).prepare().url,
            note=note,
        )
    except TransportError as exc:
        raise AuthError(
            f"cannot reach the token service {urlsplit(realm).netloc or realm!r} named by the registry's "
            f"challenge: {exc.message}",
            exchange=exc.exchange,
            hint="if it is only reachable through a reverse proxy, "
            "set DOCKER_AUTH_REVERSE_PROXY to the proxy's token URL",
        ) from None
    return _parse_token_response(response, realm, service, scope, challenge, probe)


def _parse_token_response(
    response: HttpResponse, realm: str, service: str, scope: str, challenge: Challenge, probe: Exchange
) -> Token:
    exchange = response.exchange
    if response.status != 200:
        body = response.preview()
        who = "the credentials were refused" if response.status in (401, 403) else "the token service failed"
        raise AuthError(
            f"token request answered {response.status} {exchange.reason}: {who}; {body[:200]!r}", exchange=exchange
        )
    raw = response.read(MAX_TOKEN_RESPONSE, "the token response")
    try:
        doc = json.loads(raw)
    except ValueError:
        exchange.body_preview = raw[:200].decode("utf-8", "replace")
        raise AuthError(
            f"the token service answered {exchange.content_type or 'no content type'}, not JSON "
            f"({who_answered(response)})",
            exchange=exchange,
        ) from None
    if not isinstance(doc, dict):
        raise AuthError("the token response is not a JSON object", exchange=exchange)
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("the token response has neither 'token' nor 'access_token'", exchange=exchange)
    expires_in = doc.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    exchange.body_preview = json.dumps(redact_json(doc))
    return Token(
        "bearer",
        value,
        realm=realm,
        service=service,
        scope=scope,
        expires_in=expires_in,
        issued_at=_parse_time(doc.get("issued_at")),
        obtained_at=time.time(),
        challenge=challenge,
        exchanges=(probe, exchange),
    )


def _parse_time(value: object) -> datetime | None:
    """RFC 3339 ``issued_at``; Go writes nanoseconds, which Python 3.10 cannot parse, so trim them."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, frac = text.partition(".")
    if dot:
        digits = "".join(c for c in frac if c.isdigit())
        text = f"{head}.{digits[:6]}{frac[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def send_authorized(
    client: Client,
    step: str,
    ref: Reference,
    token: Token,
    method: str,
    url: str,
    meant: str,
    headers: dict[str, str],
    record: list[Exchange],
) -> tuple[HttpResponse, Token]:
    """Send with the token; on a 401 (expired or revoked), get a fresh token once and retry.

    Every exchange made (token renewals included) is appended to ``record``.
    """
    if token.expired:
        token = renew_token(client, ref, token)
        record.append(token.exchanges[-1])
    response = client.send(step, method, url, headers={**headers, **token.headers()}, original_url=meant)
    record.append(response.exchange)
    if response.status != 401:
        return response, token
    response.preview()
    response.exchange.note = "401: token rejected or missing, getting a new one"
    token = token_from_challenge(client, ref, response.exchange, renew=True)
    record.extend(token.exchanges[1:])  # the first is the 401 itself, already recorded
    retry = client.send(
        step,
        method,
        url,
        headers={**headers, **token.headers()},
        original_url=meant,
        attempt=2,
        note="retry with renewed token",
    )
    record.append(retry.exchange)
    return retry, token


def renew_token(client: Client, ref: Reference, token: Token) -> Token:
    """A fresh Bearer token for the same realm, service and scope as an expired one."""
    if token.challenge is None or not token.exchanges:
        raise AuthError("cannot renew a token that was not obtained from a challenge")
    with client.token_lock:
        current = client.tokens.get((token.realm, token.service, token.scope))
        if current is not None and not current.expired:
            return current  # another thread renewed it already
        fresh = request_token(
            client,
            token.realm,
            token.service,
            token.scope,
            token.challenge,
            token.exchanges[0],
            client.credentials_for(ref),
            note="the token expired: renewing it",
        )
        client.tokens[(token.realm, token.service, token.scope)] = fresh
        return fresh
