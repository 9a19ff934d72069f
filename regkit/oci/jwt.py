"""The claims of a JSON Web Token, decoded without verifying it (pure, no I/O).

Registry tokens are opaque to the pull protocol, but many token services (Docker Hub's, the lab's)
issue JWTs whose claims say who issued them, for what, and until when: worth showing in a lesson.
Only the header and the claims are decoded; the signature is never looked at or kept.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

from . import jsonsafe

_LAST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can show


@dataclass(frozen=True)
class JwtClaims:
    """The decoded claims of a JWT (unverified) and the signing algorithm its header names."""

    claims: dict[str, Any]
    algorithm: str = ""

    def _text(self, name: str) -> str:
        value = self.claims.get(name)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)

    def _time(self, name: str) -> float | None:
        value = self.claims.get(name)
        # bool is an int in Python; a JSON true is not a time. Past year 9999 (10**400, inf, nan)
        # is no time either: float() or datetime would overflow on it.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value) if 0 <= value <= _LAST_EPOCH else None

    @property
    def issuer(self) -> str:
        """``iss``: who issued the token."""
        return self._text("iss")

    @property
    def subject(self) -> str:
        """``sub``: the user the token was issued to ('' for anonymous)."""
        return self._text("sub")

    @property
    def audience(self) -> str:
        """``aud``: the service (registry) the token is for."""
        return self._text("aud")

    @property
    def issued_at(self) -> float | None:
        """``iat`` in epoch seconds."""
        return self._time("iat")

    @property
    def not_before(self) -> float | None:
        """``nbf`` in epoch seconds."""
        return self._time("nbf")

    @property
    def expires_at(self) -> float | None:
        """``exp`` in epoch seconds."""
        return self._time("exp")

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until ``exp`` (negative once expired); None without ``exp``."""
        expires = self.expires_at
        return None if expires is None else expires - (time.time() if now is None else now)

    @property
    def access(self) -> list[str]:
        """Docker's ``access`` claim as scopes: ``repository:library/busybox:pull``."""
        entries = self.claims.get("access")
        if not isinstance(entries, list):
            return []
        return [
            f"{e.get('type', '')}:{e.get('name', '')}:{','.join(str(a) for a in e.get('actions') or [])}"
            for e in entries
            if isinstance(e, dict)
        ]


def _segment(text: str) -> dict[str, Any] | None:
    """One base64url JSON segment as an object, or None."""
    try:
        doc = jsonsafe.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def decode_claims(token: str) -> JwtClaims | None:
    """The claims of a JWT (``header.claims.signature``), unverified; None for any other token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, claims = _segment(parts[0]), _segment(parts[1])
    if header is None or claims is None:
        return None
    algorithm = header.get("alg")
    return JwtClaims(claims, algorithm if isinstance(algorithm, str) else "")
