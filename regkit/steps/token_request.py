"""Asking the token service named by a challenge: ``GET`` (Basic when logged in), or for a Docker identity
token the OAuth2 ``POST`` of distribution's token spec; and reading its answer.

An identity token (``identitytoken`` in ``~/.docker/config.json``, or a credential helper's
``{"Username": "<token>"}``) is an OAuth2 refresh token: Docker and containerd trade it with
``POST realm`` and the form ``grant_type=refresh_token&service=…&scope=…&refresh_token=…&client_id=…``.
A realm that only speaks ``GET`` answers that ``POST`` with 404 or 405; then, as containerd does,
the token goes as the Basic password of a ``GET`` (ACR documents that form with the null GUID user).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime

import requests

from ..errors import AuthError, TransportError
from ..http.client import Client, Credentials
from ..http.credential_rules import mark_credentials, refuse_plain_http
from ..http.denial import access_denied
from ..http.exchange import Exchange
from ..http.httperrors import registry_errors, who_answered
from ..http.tokens import Token
from ..http.transport import HttpResponse
from ..oci import jsonsafe
from ..oci.challenge import Challenge
from ..oci.redact import host_of, redact_json, redact_text

MAX_TOKEN_RESPONSE = 1 << 20
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750's b64token
_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)
DEFAULT_EXPIRES_IN = 60  # seconds, when the token service does not say (token spec)
# A longer lifetime is believed only up to a day: 10**400 s would overflow the float expiry time.
MAX_EXPIRES_IN = 24 * 3600
CLIENT_ID = "regkit"  # the OAuth2 client_id of the POST form (containerd sends "containerd-client")
# What a realm that does not take the POST form answers (containerd's fallback to GET).
POST_UNSUPPORTED = (404, 405)


def basic(credentials: Credentials) -> str:
    """The base64 ``user:password`` of HTTP Basic."""
    return base64.b64encode(f"{credentials.basic_user}:{credentials.password}".encode()).decode()


@dataclass(frozen=True)
class _Ask:
    """One token request's terms: the realm, what for, the challenge and probe it answers, the credentials."""

    realm: str
    service: str
    scope: str
    challenge: Challenge
    probe: Exchange
    credentials: Credentials | None


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
    """Ask ``realm`` for a token for ``scope`` (see the module) and parse the answer."""
    ask = _Ask(realm, service, scope, challenge, probe, credentials)
    scopes = [s for s in scope.split(" ") if s]
    params = [(name, value) for name, value in (("service", service), *(("scope", s) for s in scopes)) if value]
    registry = host_of(probe.url)
    if credentials:
        refuse_plain_http(realm, client.marked_insecure, credentials.described, registry)
    meant = requests.Request("GET", challenge.realm, params=params).prepare().url or realm
    earlier: tuple[Exchange, ...] = ()
    if credentials and credentials.identity_token:
        form = [
            ("grant_type", "refresh_token"),
            ("service", service),
            ("scope", " ".join(scopes)),
            ("refresh_token", credentials.password),
            ("client_id", CLIENT_ID),
        ]
        said = "; ".join(filter(None, (note, "identity token traded with the OAuth2 POST form")))
        response = _send(
            client, "POST", realm, registry, credentials, data=form, original_url=challenge.realm, note=said
        )
        if response.status not in POST_UNSUPPORTED:
            return _parse_token_response(response, ask)
        response.preview()
        response.exchange.note += f"; {response.status}: the token service takes no POST form, trying GET"
        earlier = response.attempts
        note = "; ".join(filter(None, (note, "identity token as the Basic password of a GET (the realm refused POST)")))
    headers = {"Authorization": f"Basic {basic(credentials)}"} if credentials else {}
    response = _send(
        client, "GET", realm, registry, credentials, params=params, headers=headers, original_url=meant, note=note
    )
    return _parse_token_response(response, ask, earlier)


def _send(
    client: Client, method: str, realm: str, registry: str, credentials: Credentials | None, **kwargs: object
) -> HttpResponse:
    """One token request, its transport failure said as an :class:`AuthError` naming the token service."""
    try:
        response = client.send("token", method, realm, **kwargs)  # type: ignore[arg-type]
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
    return response


def _parse_token_response(response: HttpResponse, ask: _Ask, earlier: tuple[Exchange, ...] = ()) -> Token:
    exchange = response.exchange
    if response.status != 200:
        body = response.preview()
        status = f"{response.status} {exchange.reason}".strip()
        detail = "; ".join(registry_errors(body)) or body.strip()[:300]
        if response.status in (401, 403):
            sent = ask.credentials.described if ask.credentials else None
            raise access_denied(
                f"the token service {host_of(ask.realm)} for {ask.scope or 'the registry'}",
                status,
                detail,
                host_of(ask.probe.url),
                sent,
                exchange,
            )
        raise AuthError(
            f"token request answered {status}: the token service failed; {detail[:200]!r}", exchange=exchange
        )
    raw = response.read(MAX_TOKEN_RESPONSE, "the token response")
    try:
        doc = jsonsafe.loads(raw)
    except jsonsafe.JsonError:
        exchange.body_preview = redact_text(raw.decode("utf-8", "replace"))[:200]
        raise AuthError(
            f"the token service answered {exchange.content_type or 'no content type'}, not JSON "
            f"({who_answered(exchange)})",
            exchange=exchange,
        ) from None
    if not isinstance(doc, dict):
        raise AuthError("the token response is not a JSON object", exchange=exchange)
    # distribution's GET answer names it 'token', the OAuth2 POST answer 'access_token'; some send both.
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("the token response has neither 'token' nor 'access_token'", exchange=exchange)
    if not _TOKEN68.fullmatch(value):
        # A newline or a non-ASCII character would break the header, or smuggle another one in.
        raise AuthError("the token service returned a token that is not a valid Bearer credential", exchange=exchange)
    given = doc.get("expires_in")
    told = isinstance(given, int) and not isinstance(given, bool) and given > 0
    expires_in = min(given, MAX_EXPIRES_IN) if isinstance(given, int) and told else DEFAULT_EXPIRES_IN
    exchange.body_preview = json.dumps(redact_json(doc))
    return Token(
        "bearer",
        value,
        realm=ask.realm,
        service=ask.service,
        scope=ask.scope,
        expires_in=expires_in,
        expires_assumed=not told,
        issued_at=_parse_time(doc.get("issued_at")),
        obtained_at=time.time(),
        challenge=ask.challenge,
        exchanges=(ask.probe, *earlier, *response.attempts),
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
