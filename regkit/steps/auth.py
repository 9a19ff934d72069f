"""Step 2, ``get_token``: the 401 challenge and Docker's token protocol; renewal of expired tokens."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import requests

from ..errors import AuthError, TransportError
from ..http.client import AuthArg, Client, Credentials, as_reference
from ..http.credential_rules import mark_credentials, refuse_plain_http
from ..http.exchange import Exchange
from ..http.httperrors import who_answered
from ..http.transport import HttpResponse
from ..oci import mediatypes as mt
from ..oci.challenge import Challenge, find_challenge, parse_challenges
from ..oci.jwt import JwtClaims, decode_claims
from ..oci.redact import fingerprint, host_of, redact_json, redact_text
from ..oci.reference import Reference

MAX_TOKEN_RESPONSE = 1 << 20
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750's b64token
_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)
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
        from ..display.html import token_html

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
    client: Client,
    ref: Reference,
    unauthorized: Exchange,
    *,
    renew: bool = False,
    scope: str | None = None,
    rejected: Token | None = None,
) -> Token:
    """The token a 401 response asks for (or for ``scope``), from the cache unless ``renew`` or expired."""
    challenges = challenges_of(unauthorized)
    bearer = find_challenge(challenges, "bearer")
    if bearer is not None:
        if not bearer.realm:
            raise AuthError("the registry's Bearer challenge has no realm to ask for a token", exchange=unauthorized)
        scope = scope or bearer.scope or ref.scope
        return _bearer_token(client, ref, scope, bearer, unauthorized, renew=renew, rejected=rejected)
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
    client: Client,
    ref: Reference,
    scope: str,
    challenge: Challenge,
    probe: Exchange,
    *,
    renew: bool,
    rejected: Token | None = None,
) -> Token:
    service = challenge.service or ""
    realm = client.endpoints.realm(challenge.realm or "", ref)
    key = (realm, service, scope)
    with client.token_lock:
        cached = client.tokens.get(key)
        # A token other than the rejected one was renewed by another thread meanwhile: use it.
        fresh = cached is not None and not cached.expired and (rejected is None or cached.value != rejected.value)
        if cached is not None and fresh and (not renew or rejected is not None):
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
    registry = host_of(probe.url)
    if credentials:
        refuse_plain_http(realm, client.marked_insecure, credentials.username, registry)
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
        if credentials:
            mark_credentials(exc.exchange, realm, registry)
        raise AuthError(
            f"cannot reach the token service {host_of(realm)!r} named by the registry's challenge: {exc.message}",
            exchange=exc.exchange,
            hint=exc.hint
            if exc.kind == "tls"
            else "if it is only reachable through a reverse proxy, "
            "set DOCKER_AUTH_REVERSE_PROXY to the proxy's token URL",
        ) from None
    if credentials:
        mark_credentials(response.exchange, realm, registry)
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
        exchange.body_preview = redact_text(raw.decode("utf-8", "replace"))[:200]
        raise AuthError(
            f"the token service answered {exchange.content_type or 'no content type'}, not JSON "
            f"({who_answered(exchange)})",
            exchange=exchange,
        ) from None
    if not isinstance(doc, dict):
        raise AuthError("the token response is not a JSON object", exchange=exchange)
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("the token response has neither 'token' nor 'access_token'", exchange=exchange)
    if not _TOKEN68.fullmatch(value):
        # A newline or a non-ASCII character would break the header, or smuggle another one in.
        raise AuthError("the token service returned a token that is not a valid Bearer credential", exchange=exchange)
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
    """RFC 3339 ``issued_at``; Go writes nanoseconds, which Python 3.10 cannot parse, so keep microseconds."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    digits = (match["fraction"] or ".")[1:7]
    fraction = f".{digits.ljust(6, '0')}" if digits else ""  # Python 3.10 reads exactly 3 or 6 digits
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        return datetime.fromisoformat(f"{match['base']}{fraction}{offset}")
    except ValueError:
        return None


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
    token = _newest(client, token)
    if token.expired:
        token = renew_token(client, ref, token)
        record.append(token.exchanges[-1])
    response = client.send(step, method, url, headers={**headers, **token.headers()}, original_url=meant)
    record.append(response.exchange)
    if response.status != 401:
        return response, token
    response.preview()
    response.exchange.note = "401: token rejected or missing, getting a new one"
    renewed = token_from_challenge(client, ref, response.exchange, renew=True, rejected=token)
    if renewed.exchanges and renewed.exchanges[0] is response.exchange:
        record.extend(renewed.exchanges[1:])  # the first is the 401 itself, already recorded
    token = renewed
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


def _newest(client: Client, token: Token) -> Token:
    """The client's cached token for the same realm, service and scope if it is newer (another thread renewed)."""
    if token.kind != "bearer":
        return token
    cached = client.tokens.get((token.realm, token.service, token.scope))
    return cached if cached is not None and cached.obtained_at > token.obtained_at else token


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
