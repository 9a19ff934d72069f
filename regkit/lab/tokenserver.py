"""A token service speaking Docker's token protocol, issuing JWTs the real registry verifies.

``GET /token?service=…&scope=…[&scope=…]`` with optional HTTP Basic credentials answers
``{"token", "access_token", "expires_in", "issued_at"}``. The JWT carries the signing
certificate in its ``x5c`` header; the registry trusts it because the same certificate is its
``rootcertbundle``. Policy: anonymous users may pull public repositories; the lab user may pull
and push everything; repositories under a private namespace are the lab user's alone. A scope the
caller may not have is left out of the token, as the spec says (the registry then answers 401).

The lab runs it in its service process (:mod:`regkit.lab.service`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .traffic import TOKEN_SERVICE, LoggedHandler


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Policy:
    """Who may do what: one lab user, public repositories, and private namespaces."""

    users: dict[str, str] = field(default_factory=dict)
    private_namespaces: tuple[str, ...] = ("private",)

    def allowed(self, user: str | None, repository: str, wanted: list[str]) -> list[str]:
        """The subset of ``wanted`` actions ``user`` (None: anonymous) may perform on ``repository``."""
        if user is not None:
            return [a for a in wanted if a in ("pull", "push")]
        if repository.split("/", 1)[0] in self.private_namespaces:
            return []
        return [a for a in wanted if a == "pull"]

    def authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """``(ok, user)`` for an Authorization header; no header is an anonymous success."""
        if not header:
            return True, None
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        expected = self.users.get(user)
        return (expected is not None and hmac.compare_digest(expected, password)), user


class TokenIssuer:
    """Signs RS256 JWTs whose ``x5c`` header carries the certificate the registry trusts."""

    def __init__(self, key_path: Path, cert_path: Path, issuer: str, service: str, ttl: int) -> None:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA key; RS256 tokens need one")
        self.key = key
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.issuer, self.service, self.ttl = issuer, service, ttl

    def issue(self, subject: str, access: list[dict[str, Any]], now: float | None = None) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        now = int(time.time() if now is None else now)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}", self.ttl


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:name:pull,push`` -> ``("repository", "name", ["pull", "push"])``; None if malformed."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name or not actions:
        return None
    return kind, name, [a for a in actions.split(",") if a]


def grant(policy: Policy, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
    """The ``access`` claim: every requested repository scope, trimmed to what the policy allows."""
    access = []
    for scope in scopes:
        for part in scope.split(" "):
            parsed = parse_scope(part)
            if parsed is not None and parsed[:2] == ("registry", "catalog") and user is not None:
                access.append({"type": "registry", "name": "catalog", "actions": ["*"]})  # the lab user lists it
            if parsed is None or parsed[0] != "repository":
                continue
            actions = policy.allowed(user, parsed[1], parsed[2])
            if actions:
                access.append({"type": "repository", "name": parsed[1], "actions": actions})
    return access


def make_handler(policy: Policy, issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to a policy and an issuer."""

    class Handler(LoggedHandler):
        served_as = TOKEN_SERVICE
        server_version = "regkit-lab-token/1"

        def _json(self, status: int, doc: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.rstrip("/").rsplit("/", 1)[-1] != "token":
                self._json(404, {"errors": [{"code": "NOT_FOUND", "message": "only /token is served here"}]})
                return
            query = parse_qs(url.query)
            service = (query.get("service") or [""])[0]
            if service != issuer.service:
                self._json(400, {"errors": [{"code": "INVALID_SERVICE", "message": f"unknown service {service!r}"}]})
                return
            ok, user = policy.authenticate(self.headers.get("Authorization"))
            if not ok:
                challenge = 'Basic realm="regkit lab"'
                self._json(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "wrong username or password"}]},
                    {"WWW-Authenticate": challenge},
                )
                return
            token, ttl = issuer.issue(user or "", grant(policy, user, query.get("scope", [])))
            issued = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            self._json(200, {"token": token, "access_token": token, "expires_in": ttl, "issued_at": issued})

        def log_message(self, format: str, *args: Any) -> None:
            # The default logs the full request line; it carries no secret, but keep logs terse.
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler
