"""Where a registry's redirect (to a blob CDN, a manifest's storage) points, checked before it is followed.

:meth:`~regkit.steps.fetcher.Fetcher.follow_redirects` follows them itself, never with ``Authorization``:
requests keeps ``Authorization`` on a redirect that stays on the same scheme, host and port, which
hands the registry's token to a CDN served behind the same proxy; so every hop is a fresh request
without it, and a ``Location`` that is not a plain http(s) URL is refused with a message naming it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from ..errors import UnexpectedResponse
from ..http.transport import HttpResponse
from ..oci.redact import redact_url

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
_SHOWN = 200  # characters of a hostile Location quoted in a message


def redirect_target(response: HttpResponse, what: str) -> str:
    """The absolute http(s) URL a redirect points to, or an :class:`UnexpectedResponse` saying what is wrong."""
    location = response.headers.get("Location")
    if not location:
        raise UnexpectedResponse(f"{what} redirect {response.status} without a Location", exchange=response.exchange)
    shown = repr(redact_url(location)[:_SHOWN])
    try:
        target = urljoin(response.raw.url, location.strip())
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError:
        raise UnexpectedResponse(
            f"{what} redirect to a malformed Location {shown}", exchange=response.exchange
        ) from None
    if parts.scheme not in ("http", "https"):
        raise UnexpectedResponse(
            f"{what} redirect to a {parts.scheme}: URL refused ({shown}); only http and https are followed",
            exchange=response.exchange,
        )
    if not parts.hostname:
        raise UnexpectedResponse(f"{what} redirect to a Location without a host ({shown})", exchange=response.exchange)
    return target
