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

SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-amz-security-token",
    "x-auth-token",
    "x-registry-auth",
    "x-api-key",
    "x-goog-api-key",
}
# Headers whose value is, or holds, a URL that may carry a signed query or userinfo.
_URL_HEADERS = {"location", "content-location", "link", "refresh", "x-accel-redirect"}
# Query parameters that grant access: signed URLs (S3 ``X-Amz-Signature``/``X-Amz-Credential``, GCS
# ``X-Goog-Signature``, CloudFront ``Signature``/``Policy``/``Key-Pair-Id``, Azure SAS ``sig``, nginx
# secure_link ``md5``, Akamai ``hdnts``/``__token__``, Docker Hub's CDN ``verify=<time>-<hmac>``) and
# API keys (``key``, ``apikey``, ``auth_key``, ``access_token``, ``jwt``, ``hash``, ``hmac``).
# Harmless ones (``expires``, ``service``, ``scope``, ``n``, ``last``) stay readable.
_SECRET_QUERY = re.compile(
    r"(signature|sig|token|md5|credential|key-pair-id|policy|^se$|^sv$|password|passwd|secret|^verify$|hdnts"
    r"|^key$|apikey|api_key|api-key|auth|hash|hmac|jwt|session|^code$|^access_key)",
    re.IGNORECASE,
)
# JSON keys are compared lower-cased with ``_`` and ``-`` removed: ``accessToken`` is ``accesstoken``.
SECRET_JSON_KEYS = {
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "identitytoken",
    "registrytoken",
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "auth",
    "apikey",
    "privatekey",
    "sessiontoken",
    "secretaccesskey",
}
# Secrets by shape, wherever they appear in free text (an error body, a non-JSON token answer):
# JWTs, GitHub and Docker tokens, AWS access key ids, and long credentials after an auth scheme.
_SECRET_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|dckr_pat_[A-Za-z0-9_-]{10,}|AKIA[0-9A-Z]{16})"
    r"|\b(?:Bearer|Basic)\s+(?P<credential>[A-Za-z0-9._~+/-]{20,}=*)"
)
# ``key=value`` and ``"key": "value"`` whose key names a secret, and ``?key=value`` of a relative URL.
_SECRET_PAIR = re.compile(
    r"""(?P<key>["']?[A-Za-z0-9_-]*(?:token|password|passwd|secret|signature|apikey|api_key)"""
    r"""[A-Za-z0-9_-]*["']?\s*[:=]\s*["']?)(?P<value>[^"'\s,;&}<]{4,})""",
    re.IGNORECASE,
)
_QUERY_PAIR = re.compile(r"(?<=[?&])(?P<key>[^=&\s#'\"]+)=(?P<value>[^&\s#'\"<>]+)")


def fingerprint(secret: str) -> str:
    """A stable stand-in for ``secret``: ``<redacted:1a2b3c4d>``."""
    return f"<redacted:{hashlib.sha256(secret.encode('utf-8', 'replace')).hexdigest()[:8]}>"


def redact_header(name: str, value: str) -> str:
    """The value of one header with any secret replaced; the auth scheme stays readable."""
    if name.lower() not in SECRET_HEADERS:
        if name.lower() in _URL_HEADERS:
            return _redact_url_header(value)
        if name.lower() in ("www-authenticate", "proxy-authenticate"):
            return _URL_IN_TEXT.sub(lambda m: _userinfo_only(m.group()), value)
        return value
    scheme, sep, credentials = value.partition(" ")
    if sep and name.lower().endswith("authorization"):
        return f"{scheme} {fingerprint(credentials)}"
    return fingerprint(value)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with secrets replaced by fingerprints."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name, redact_header(name, value)) for name, value in items]


def _redact_url_header(value: str) -> str:
    """``Location``/``Content-Location`` (a URL), ``Link`` (``<url>; rel=…``) or ``Refresh`` (``5; url=…``)."""
    if "<" in value:
        return re.sub(r"<([^>]*)>", lambda m: f"<{redact_url(m.group(1))}>", value)
    refresh = re.search(r"url\s*=\s*", value, re.IGNORECASE)
    if refresh:
        return value[: refresh.end()] + redact_url(value[refresh.end() :])
    return redact_url(value)


def redact_url(url: str) -> str:
    """A URL with its userinfo and signed-query values replaced by fingerprints.

    A user name with a password stays readable; a user name alone is often a token
    (``https://<token>@host``) and is replaced too. A URL that does not parse keeps its
    scheme and host only as far as they are unambiguous.
    """
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:
        return _redact_unparsable(url)
    netloc = _redact_userinfo(parts.netloc, username, password)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY.search(k) for k, _ in pairs):
            query = urlencode(redact_pairs(pairs), safe="<>/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query or form fields with the values of secret-named ones (``refresh_token``, ``sig``…) as fingerprints."""
    return [(k, fingerprint(v) if _SECRET_QUERY.search(k) else v) for k, v in pairs]


def _redact_userinfo(netloc: str, username: str | None, password: str | None) -> str:
    if "@" not in netloc:
        return netloc
    userinfo, _, hostport = netloc.rpartition("@")
    if password is not None:
        userinfo = f"{userinfo.partition(':')[0]}:{fingerprint(password)}"
    else:
        userinfo = fingerprint(username or userinfo)
    return f"{userinfo}@{hostport}"


def _userinfo_only(url: str) -> str:
    """``url`` with only its userinfo redacted (a challenge's realm must stay usable otherwise)."""
    try:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=_redact_userinfo(parts.netloc, parts.username, parts.password)))
    except ValueError:
        return _redact_unparsable(url)


def _redact_unparsable(url: str) -> str:
    """What can be shown of a URL ``urlsplit`` refuses: userinfo, query and fragment are replaced whole."""
    url = re.sub(r"(?<=://)[^/?#]*@", lambda m: fingerprint(m.group()[:-1]) + "@", url, count=1)
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    return url if cut < 0 else f"{url[:cut]}{url[cut]}{fingerprint(url[cut + 1 :])}"


def without_userinfo(url: str) -> tuple[str, bool]:
    """``url`` with any ``user[:password]@`` removed, and whether there was one (never sent as Basic)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    if "@" not in parts.netloc:
        return url, False
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), True


def host_of(url: str) -> str:
    """``host[:port]`` of a URL for messages, without userinfo; the redacted URL if it has no host."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return _redact_unparsable(url)
    return netloc.rpartition("@")[2] or redact_url(url)


def redact_json(doc: Any) -> Any:
    """A copy of a decoded JSON document with secret-named values replaced by fingerprints."""
    if isinstance(doc, dict):
        return {
            k: fingerprint(str(v)) if _secret_key(k) and isinstance(v, str) else redact_json(v) for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [redact_json(v) for v in doc]
    return doc


def _secret_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in SECRET_JSON_KEYS


def secrets_in(url: str, headers: Mapping[str, str], form: Iterable[tuple[str, str]] = ()) -> list[str]:
    """The secret values a request carries: credentials of auth headers, signed-URL query and form values."""
    found = []
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and value:
            found.append(value.partition(" ")[2] or value)
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        pairs = []
    found += [value for key, value in (*pairs, *form) if value and _SECRET_QUERY.search(key)]
    return [secret for secret in found if len(secret) >= 4]  # shorter ones would match innocent text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by its fingerprint (servers echo them back)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, fingerprint(secret))
    return text


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def redact_text(text: str) -> str:
    """Free text (an exception message, an error body) with URLs and secret-shaped values redacted."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)
    text = _SECRET_SHAPES.sub(_redact_shape, text)
    text = _QUERY_PAIR.sub(
        lambda m: f"{m['key']}={_fingerprint_once(m['value'])}" if _SECRET_QUERY.search(m["key"]) else m.group(), text
    )
    return _SECRET_PAIR.sub(lambda m: m["key"] + _fingerprint_once(m["value"]), text)


def _redact_shape(match: re.Match[str]) -> str:
    if match["credential"]:
        start = match.start("credential") - match.start()
        return match.group()[:start] + fingerprint(match["credential"])
    return fingerprint(match.group())


def _fingerprint_once(value: str) -> str:
    """A fingerprint of ``value`` unless it is one already (text may pass through twice)."""
    return value if value.startswith("<redacted:") else fingerprint(value)
