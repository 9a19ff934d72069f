"""Step 2, ``get_token``: the 401 challenge and Docker's token protocol; renewal of expired tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import AuthError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.denial import basic_wanted
from ..http.exchange import Exchange
from ..http.tokens import Token  # with the cache that holds it, below the client that owns that
from ..oci import mediatypes as mt
from ..oci.challenge import Challenge, find_challenge, parse_challenges
from ..oci.reference import Reference
from .token_request import basic, request_token

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack


def challenges_of(exchange: Exchange) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` headers of a response.

    Parameters
    ----------
    exchange : Exchange
        A recorded exchange, typically the 401 that starts a pull.

    Returns
    -------
    list of Challenge
        Scheme and parameters of each challenge, in the order the registry sent them.

    Raises
    ------
    RegkitError
        Never: a malformed header yields the challenges that could be read.
    """
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
            raise basic_wanted(ref.registry, unauthorized)
        return Token("basic", basic(credentials), challenge=challenges[0], exchanges=(unauthorized,))
    shown = ", ".join(str(c.scheme) for c in challenges) or "no WWW-Authenticate header"
    raise AuthError(f"the registry answered 401 with a challenge regkit cannot answer ({shown})", exchange=unauthorized)


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
