"""Redaction of secrets in headers, URLs and token bodies (pure).

A secret is replaced by a short fingerprint (the first hex digits of its sha256) so that two
different tokens can still be told apart in a transcript without either being readable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token"}
# Query parameters of signed URLs (S3, CloudFront, nginx secure_link, Azure SAS) that grant access.
# Docker Hub's CDN signs with ``verify=<time>-<hmac>``; Akamai with ``hdnts``.
_SECRET_QUERY = re.compile(
    r"(signature|sig|token|md5|credential|key-pair-id|policy|^se$|^sv$|password|secret|^verify$|hdnts)", re.IGNORECASE
)
SECRET_JSON_KEYS = {"token", "access_token", "refresh_token", "password", "secret", "identitytoken"}


def fingerprint(secret: str) -> str:
    """A stable stand-in for ``secret``: ``<redacted:1a2b3c4d>``."""
    return f"<redacted:{hashlib.sha256(secret.encode('utf-8', 'replace')).hexdigest()[:8]}>"


def redact_header(name: str, value: str) -> str:
    """The value of one header with any secret replaced; the auth scheme stays readable."""
    if name.lower() not in SECRET_HEADERS:
        return redact_url(value) if name.lower() == "location" else value
    scheme, sep, credentials = value.partition(" ")
    if sep and name.lower().endswith("authorization"):
        return f"{scheme} {fingerprint(credentials)}"
    return fingerprint(value)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with secrets replaced by fingerprints."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name, redact_header(name, value)) for name, value in items]


def redact_url(url: str) -> str:
    """A URL with its password and signed-query values replaced by fingerprints."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", f":{fingerprint(parts.password)}@", 1)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY.search(k) for k, _ in pairs):
            query = urlencode([(k, fingerprint(v) if _SECRET_QUERY.search(k) else v) for k, v in pairs], safe="<>/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_json(doc: Any) -> Any:
    """A copy of a decoded JSON document with secret-named values replaced by fingerprints."""
    if isinstance(doc, dict):
        return {
            k: fingerprint(str(v)) if k.lower() in SECRET_JSON_KEYS and isinstance(v, str) else redact_json(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [redact_json(v) for v in doc]
    return doc


def secrets_in(url: str, headers: Mapping[str, str]) -> list[str]:
    """The secret values a request carries: credentials of auth headers and signed-URL query values."""
    found = []
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and value:
            found.append(value.partition(" ")[2] or value)
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        pairs = []
    found += [value for key, value in pairs if _SECRET_QUERY.search(key)]
    return [secret for secret in found if len(secret) >= 4]  # shorter ones would match innocent text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by its fingerprint (servers echo them back)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, fingerprint(secret))
    return text


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def redact_text(text: str) -> str:
    """Free text (an exception message) with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)
