"""Where a password may go: any realm a challenge names (as Docker does), but never over plain HTTP
to a host the user did not mark insecure; and a mark on the exchange when it went elsewhere.

Hosts the user marked: the registry's or mirror's host under ``--insecure-registry``, and the
mirror and auth proxy the user configured (an ``http://`` URL written there is the user's choice).
Unlike Docker, loopback is not insecure by default: the lab's hosts are marked like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..errors import AuthError
from ..oci.redact import host_of
from .exchange import Exchange


def hostname(url_or_netloc: str) -> str:
    """The host name of a URL or ``host[:port]``, lower-cased, without port or userinfo."""
    text = url_or_netloc if "://" in url_or_netloc else f"//{url_or_netloc}"
    try:
        return (urlsplit(text).hostname or "").lower()
    except ValueError:
        return ""


def refuse_plain_http(url: str, marked: Iterable[str], secret: str, registry: str) -> None:
    """Raise :class:`AuthError` when ``url`` is plain HTTP to a host not in ``marked`` (URLs or netlocs).

    ``secret`` says what would be sent (``the password of 'user'``, see :attr:`Credentials.described`).
    """
    if urlsplit(url).scheme != "http" or hostname(url) in {hostname(m) for m in marked}:
        return
    raise AuthError(
        f"refusing to send {secret} over plain HTTP to {host_of(url)}, the token service "
        f"named by {registry}'s challenge: that host is not marked insecure",
        hint=f"the registry should name an https realm; --insecure-registry marks the registry's host ({registry}) "
        "only, DOCKER_AUTH_REVERSE_PROXY may name an http token service you trust",
    )


def mark_credentials(exchange: Exchange | None, url: str, registry: str) -> None:
    """Record on ``exchange`` where the credentials went, and say so when it is not the registry."""
    if exchange is None:
        return
    exchange.credentials_to = host_of(url)
    exchange.credentials_elsewhere = exchange.credentials_to != registry
    if exchange.credentials_elsewhere:
        said = f"credentials sent to {exchange.credentials_to}, not the registry {registry}"
        exchange.note = "; ".join(filter(None, (exchange.note, said)))
