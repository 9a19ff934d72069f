"""Following a registry's redirects (blob CDNs, manifest mirrors) ourselves, never with ``Authorization``.

requests keeps ``Authorization`` on a redirect that stays on the same scheme, host and port, which
hands the registry's token to a CDN served behind the same proxy; so every hop is a fresh request
without it, and a ``Location`` that is not a plain http(s) URL is refused with a message naming it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from ..errors import TransportError, UnexpectedResponse
from ..http.client import Client
from ..http.exchange import Exchange
from ..http.transport import HttpResponse
from ..oci.redact import host_of, redact_url
from ..oci.reference import Reference

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


def follow_redirects(
    client: Client,
    step: str,
    what: str,
    ref: Reference,
    response: HttpResponse,
    headers: dict[str, str],
    exchanges: list[Exchange],
    *,
    cdn_hint: str = "",
) -> HttpResponse:
    """The response at the end of ``response``'s redirects, each hop sent with ``headers`` only (no token)."""
    for hop in range(1, MAX_REDIRECTS + 1):
        if response.status not in REDIRECTS:
            return response
        response.close()
        target = redirect_target(response, what)
        sent = client.endpoints.blob_location(target, ref) if step == "blob" else target
        try:
            # A fresh header set: the registry's token is for the registry, not for a CDN (S3 answers
            # 400 "Only one auth mechanism allowed"), even when both sit behind the same proxy host.
            response = client.send(
                step, "GET", sent, headers=headers, original_url=target, note=f"redirect {hop}, no Authorization"
            )
        except TransportError as exc:
            raise TransportError(
                f"the {what} redirect to {host_of(sent)} failed: {exc.message}",
                exchange=exc.exchange,
                kind=exc.kind,
                # A certificate problem has its own hint (which CA sources apply); a proxy does not fix it.
                hint=exc.hint if exc.kind == "tls" else cdn_hint or None,
            ) from None
        exchanges.extend(response.attempts)
    response.close()
    raise UnexpectedResponse(f"more than {MAX_REDIRECTS} redirects for {what}", exchange=response.exchange)
