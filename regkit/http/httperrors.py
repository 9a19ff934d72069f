"""Turning an unwanted HTTP response into the right :class:`RegkitError` with a readable message."""

from __future__ import annotations

import re

from ..errors import AuthError, NotFound, RegistryError, UnexpectedResponse
from ..oci import jsonsafe
from ..oci.redact import host_of
from .denial import access_denied
from .exchange import Exchange
from .retry import parse_retry_after
from .transport import HttpResponse

# Headers that name the box that really answered, when a proxy or CDN is in the way.
_S3_ERROR = re.compile(r"<Code>(?P<code>[^<]{1,100})</Code>\s*<Message>(?P<message>[^<]{0,500})</Message>")
_WHO_HEADERS = ("server", "via", "cf-ray", "x-cache", "x-served-by")


def who_answered(exchange: Exchange) -> str:
    """``server: nginx/1.22, via: 1.1 varnish`` or ``unknown server``."""
    values = {name: (exchange.header(name) or "").strip() for name in _WHO_HEADERS}
    found = [f"{name}: {value}" for name, value in values.items() if value]
    return ", ".join(found) or "unknown server"


def registry_errors(body: str) -> list[str]:
    """``CODE: message`` for each entry of a distribution-spec error body, or [] if it is not one."""
    try:
        doc = jsonsafe.loads(body)
    except ValueError:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    return [f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)]


def error_for(
    response: HttpResponse, what: str, *, credentials_sent: bool | None = None, registry: str = ""
) -> RegistryError:
    """The error for a non-success response while fetching ``what`` (reads a short body preview).

    A 401 or 403 from ``registry``, where ``credentials_sent`` is known, is an :class:`AccessDenied`
    that says whether the user's credentials went out; from elsewhere (a storage host) an :class:`AuthError`.
    """
    body = response.preview()
    exchange = response.exchange
    status = f"{response.status} {exchange.reason}".strip()
    codes = registry_errors(body)
    if codes:
        detail = "; ".join(codes)
    elif body.lstrip().startswith("<"):
        detail = f"an HTML/XML page from {who_answered(response.exchange)}, not a registry answer"
        s3 = _S3_ERROR.search(body)
        if s3:  # storage services (S3, R2) explain themselves in XML: say what they said
            detail += f": {s3['code']}: {s3['message'][:200]}"
    else:
        detail = body.strip()[:200] or "empty body"
    message = f"{what}: {status}: {detail}"
    if response.status == 404:
        return NotFound(message, exchange=exchange)
    if response.status in (401, 403) and credentials_sent is not None:
        sent = "the credentials" if credentials_sent else None
        return access_denied(what, status, detail, registry or host_of(response.raw.url), sent, exchange)
    if response.status in (401, 403):
        return AuthError(message, exchange=exchange, hint="check the credentials and that the repository name is right")
    if response.status == 429:
        asked = parse_retry_after(exchange.header("retry-after"))
        later = f"the server asks to wait {asked:.0f} s (Retry-After)" if asked is not None else "wait"
        return UnexpectedResponse(message, exchange=exchange, hint=f"rate limited; {later}, or log in")
    return UnexpectedResponse(message, exchange=exchange)
