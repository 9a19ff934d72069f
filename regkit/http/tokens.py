"""Tokens for the ``Authorization`` header, and the cache that holds them per registry endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .._repr import HtmlRepr
from ..oci.challenge import Challenge
from ..oci.jwt import JwtClaims, decode_claims
from ..oci.redact import fingerprint
from .exchange import Exchange

# Renew a little early so a token does not expire between the check and the request.
EXPIRY_MARGIN = 5

TokenKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Token(HtmlRepr):
    """What to put in ``Authorization``: a Bearer token, Basic credentials, or nothing (open registry).

    Attributes
    ----------
    kind : str
        ``"bearer"``, ``"basic"`` or ``"none"``.
    value : str
        The token or the Basic value (never printed).
    realm, service, scope : str
        From the registry's challenge: the token service and what the token is for.
    registry : str
        The registry endpoint whose challenge it answers: tokens are never shared across them.
    expires_in : int
        Seconds the token lives, as the token service said.
    expires_assumed : bool
        True when the answer had no ``expires_in`` and the token spec's 60 s were assumed.
    issued_at : datetime or None
        When the token service issued it.
    obtained_at : float
        When regkit received it (``time.monotonic``).
    challenge : Challenge or None
        The challenge it answers.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

    kind: str  # "bearer", "basic" or "none"
    value: str = field(default="", repr=False)
    realm: str = ""
    service: str = ""
    scope: str = ""
    registry: str = ""  # the registry endpoint whose challenge this answers: tokens are never shared across them
    expires_in: int = 0
    expires_assumed: bool = False  # the answer had no expires_in: the token spec's 60 s were assumed
    issued_at: datetime | None = None
    obtained_at: float = 0.0
    challenge: Challenge | None = None
    exchanges: tuple[Exchange, ...] = field(default=(), repr=False)

    @property
    def expires_at(self) -> float | None:
        """Wall-clock expiry (epoch seconds) of a Bearer token, counted from when we received it."""
        return self.obtained_at + self.expires_in if self.kind == "bearer" else None

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until expiry (negative when expired), None when it never expires.

        Parameters
        ----------
        now : float, optional
            The time to count from (seconds since the epoch); default now.

        Returns
        -------
        float or None
            Seconds left, negative once expired; None for a token without an expiry.
        """
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

    @property
    def credentials_sent(self) -> bool:
        """True when the user's credentials went out for this token (Basic, or the token request carried them)."""
        return self.kind == "basic" or any(exchange.credentials_to for exchange in self.exchanges)

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for registry requests (empty when none is needed).

        Returns
        -------
        dict of str to str
            ``{"Authorization": "Bearer …"}`` or ``Basic``, or empty for an anonymous registry.
        """
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.value}"}
        if self.kind == "basic":
            return {"Authorization": f"Basic {self.value}"}
        return {}

    def __repr__(self) -> str:
        secret = f", value={fingerprint(self.value)!r}" if self.value else ""
        return (
            f"Token(kind={self.kind!r}{secret}, service={self.service!r}, scope={self.scope!r}, "
            f"expires_in={self.expires_in}{' (assumed: the answer had no expires_in)' if self.expires_assumed else ''})"
        )


class TokenCache:
    """Bearer tokens by (registry endpoint, realm, service, scope), shared by the threads of one client.

    The registry endpoint is part of the key as Docker and containerd key token state per host: a
    registry whose challenge names another registry's realm, service and scope gets a token of its
    own (asked with its own credentials), never the other registry's.
    """

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, Token] = {}
        # Held while a token is requested, so concurrent downloads wait for one renewal, not start several.
        self._lock = threading.Lock()

    @staticmethod
    def key(token: Token) -> TokenKey:
        """Where ``token`` is filed."""
        return (token.registry, token.realm, token.service, token.scope)

    def obtain(
        self, key: TokenKey, request: Callable[[], Token], *, renew: bool = False, rejected: Token | None = None
    ) -> Token:
        """The cached token for ``key`` unless missing, expired, ``renew``ed or ``rejected``; else ``request()``'s.

        A token other than the rejected one, renewed by another thread meanwhile, is used as is.
        """
        with self._lock:
            cached = self._tokens.get(key)
            fresh = cached is not None and not cached.expired and (rejected is None or cached.value != rejected.value)
            if cached is not None and fresh and (not renew or rejected is not None):
                return cached
            token = request()
            self._tokens[key] = token
            return token

    def newest(self, token: Token) -> Token:
        """The cached token filed like ``token`` if it is newer (another thread renewed it), else ``token``."""
        if token.kind != "bearer":
            return token
        cached = self._tokens.get(self.key(token))
        return cached if cached is not None and cached.obtained_at > token.obtained_at else token

    def put(self, token: Token) -> None:
        """File ``token`` (replacing the one filed like it)."""
        with self._lock:
            self._tokens[self.key(token)] = token

    def values(self) -> list[Token]:
        """Every cached token."""
        with self._lock:
            return list(self._tokens.values())

    def __len__(self) -> int:
        return len(self._tokens)
