"""Step 2, ``get_token``: the 401 challenge and Docker's token protocol; renewal of expired tokens."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import requests

from ..errors import CREDENTIALS, AuthError, Hint, TransportError
from ..http.client import Client, ClientOptions, Credentials, as_reference, client_for
from ..http.credential_rules import mark_credentials, refuse_plain_http
from ..http.exchange import Exchange
from ..http.httperrors import who_answered
from ..http.tokens import Token  # with the cache that holds it, below the client that owns that
from ..http.transport import HttpResponse
from ..oci import jsonsafe
from ..oci import mediatypes as mt
from ..oci.challenge import Challenge, find_challenge, parse_challenges
from ..oci.redact import host_of, redact_json, redact_text
from ..oci.reference import Reference

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack

MAX_TOKEN_RESPONSE = 1 << 20
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750's b64token
_RFC3339 = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)
DEFAULT_EXPIRES_IN = 60  # seconds, when the token service does not say (token spec)
# A longer lifetime is believed only up to a day: 10**400 s would overflow the float expiry time.
MAX_EXPIRES_IN = 24 * 3600


def challenges_of(exchange: Exchange) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` headers of a response."""
    values = [v for k, v in exchange.response_headers if k.lower() == "www-authenticate"]
    return parse_challenges(", ".join(values))


def get_token(ref: Reference | str, *, client: Client | None = None, **options: Unpack[ClientOptions]) -> Token:
    """Probe the manifest without credentials; on a 401 challenge, obtain a token for pulling ``ref``.

    Parameters
    ----------
    ref : Reference or str
        The image whose repository the token is for.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (``endpoints``, ``insecure``, ``auth``,
        ``timeout``, ``docker_config``, ``retry``, ``transport``, ``speed_limit``, ``ca_cert``; see
        :class:`Client`). Not together with ``client``.

    Returns
    -------
    Token
        A bearer or basic token, or ``kind="none"`` when the registry needs none; its ``exchanges`` show how.

    Raises
    ------
    AuthError
        The challenge or the token service failed, or credentials are needed and there are none.
    RegistryError
        The registry (or a box in between) answered, but not as the protocol promises: ``AuthError``,
        ``NotFound``, ``ManifestError``, ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    with client_for(client, options) as session:
        return probe_token(session, as_reference(ref), [])


def probe_token(client: Client, ref: Reference, log: list[Exchange]) -> Token:
    """:func:`get_token` on a client; the exchanges it makes (not a cached token's) are appended to ``log``."""
    url, meant = client.registry_url(ref, f"manifests/{ref.identifier}")
    # A HEAD on the manifest (as containerd does) gets the challenge with the exact scope and
    # does not count as a pull on Docker Hub.
    probe = client.send("token", "HEAD", url, headers={"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}, original_url=meant)
    probe.close()
    log.extend(probe.attempts)
    if probe.status != 401:
        return Token("none", exchanges=(probe.exchange,))
    token = token_from_challenge(client, ref, probe.exchange)
    if token.exchanges and token.exchanges[0] is probe.exchange:  # a new token, not the cached one
        log.extend(token.exchanges[1:])
    return token


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
                hint=Hint("pass ", CREDENTIALS),
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
    registry = client.endpoints.registry_base(ref)

    def request() -> Token:
        token = request_token(client, realm, service, scope, challenge, probe, client.credentials_for(ref))
        return replace(token, registry=registry)

    return client.tokens.obtain((registry, realm, service, scope), request, renew=renew, rejected=rejected)


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
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("the token response has neither 'token' nor 'access_token'", exchange=exchange)
    if not _TOKEN68.fullmatch(value):
        # A newline or a non-ASCII character would break the header, or smuggle another one in.
        raise AuthError("the token service returned a token that is not a valid Bearer credential", exchange=exchange)
    expires_in = doc.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    expires_in = min(expires_in, MAX_EXPIRES_IN)
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
        exchanges=(probe, *response.attempts),
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
    token = client.tokens.newest(token)
    if token.expired:
        token = renew_token(client, ref, token)
        record.append(token.exchanges[-1])
    response = client.send(step, method, url, headers={**headers, **token.headers()}, original_url=meant)
    record.extend(response.attempts)
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
    record.extend(retry.attempts)
    return retry, token


def renew_token(client: Client, ref: Reference, token: Token) -> Token:
    """A fresh Bearer token for the same registry, realm, service and scope as an expired one."""
    if token.challenge is None or not token.exchanges:
        raise AuthError("cannot renew a token that was not obtained from a challenge")
    challenge, probe = token.challenge, token.exchanges[0]

    def request() -> Token:
        fresh = request_token(
            client,
            token.realm,
            token.service,
            token.scope,
            challenge,
            probe,
            client.credentials_for(ref),
            note="the token expired: renewing it",
        )
        return replace(fresh, registry=token.registry)

    return client.tokens.obtain(client.tokens.key(token), request)  # another thread may have renewed it already
