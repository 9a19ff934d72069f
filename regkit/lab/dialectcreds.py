"""Credentials in the dialects' shapes and the bearer tokens of their token services, minted and checked by the lab.

Shapes from ``/work/shared/notes/registry-dialects.md`` ("Authentication"): ECR's password (what
``aws ecr get-login-password`` prints) is base64 of a JSON document with an ``expiration``, valid
12 h; Artifact Registry's ``oauth2accesstoken`` password is a ``ya29.`` access token valid about
1 h, and ``_json_key`` takes a service account's JSON key; ACR's refresh token (also the
``identitytoken`` Docker keeps after ``az acr login``) is a JWT, and ``/oauth2/exchange`` trades an
Azure AD access token for one. Each expiring secret carries its expiry and an HMAC of it, so the lab
can hand out one that already expired and see the registry's own answer to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

EXPIRED = "expired"
VALID = "valid"
INVALID = "invalid"


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same(given: str, expected: str) -> bool:
    """A constant-time comparison that also takes what a hostile client sends (non-ASCII text)."""
    return hmac.compare_digest(given.encode(errors="replace"), expected.encode())


def _sign(secret: str, kind: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{kind}:{expires}".encode(), hashlib.sha256).hexdigest()


def mint(kind: str, secret: str, expires: float) -> str:
    """A secret of ``kind`` (ecr, gar, acr, aad) that the lab accepts until ``expires`` (epoch seconds)."""
    at = int(expires)
    mac = _sign(secret, kind, at)
    if kind == "ecr":
        doc = {
            "payload": b64url(bytes.fromhex(mac)),
            "datakey": "regkit-lab",
            "version": "2",
            "type": "DATA_KEY",
            "expiration": at,
        }
        return base64.b64encode(json.dumps(doc).encode()).decode()
    if kind == "gar":
        return f"ya29.{b64url(str(at).encode())}.{mac}"
    # ACR's refresh tokens and Azure AD's access tokens are JWTs: header.claims.signature.
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"exp": at, "grant_type": "refresh_token" if kind == "acr" else "aad"}).encode())
    return f"{header}.{claims}.{mac}"


def check(kind: str, secret: str, value: str, now: float | None = None) -> str:
    """VALID, EXPIRED or INVALID for a secret presented as ``kind``."""
    try:
        if kind == "ecr":
            doc = json.loads(base64.b64decode(value, validate=True))
            expires, mac = int(doc["expiration"]), _unb64(doc["payload"]).hex()
        elif kind == "gar":
            prefix, stamp, mac = value.split(".")
            if prefix != "ya29":
                return INVALID
            expires = int(_unb64(stamp))
        else:
            _, claims, mac = value.split(".")
            expires = int(json.loads(_unb64(claims))["exp"])
    except (ValueError, KeyError, TypeError):
        return INVALID
    if not same(mac, _sign(secret, kind, expires)):
        return INVALID
    return VALID if (time.time() if now is None else now) < expires else EXPIRED


def issue_token(secret: str, audience: str, ttl: int, subject: str, access: list[dict[str, Any]]) -> str:
    """A bearer token: an HS256 JWT with distribution's claims (the lab's front is the only one that checks it)."""
    now = int(time.time())
    claims = {"iss": "regkit-lab", "sub": subject, "aud": audience, "iat": now, "nbf": now - 1, "exp": now + ttl}
    head = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    body = f"{head}.{b64url(json.dumps({**claims, 'access': access}).encode())}"
    return f"{body}.{b64url(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}"


def token_access(secret: str, token: str) -> list[dict[str, Any]] | None:
    """The access claim of a token :func:`issue_token` signed with ``secret`` and that has not expired; else None."""
    body, _, mac = token.rpartition(".")
    if not body or not same(mac, b64url(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())):
        return None
    claims = json.loads(_unb64(body.split(".")[1]))
    return list(claims["access"]) if claims["exp"] > time.time() else None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from a Basic Authorization header, else None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password
