"""Where requests go: registry endpoint, mirrors and the seed's three reverse proxies (pure).

The seed's nginx proxy forwards ``/docker-registry/``, ``/docker-auth/`` and ``/docker-blob/``
without rewriting anything, so the client must rewrite: the registry URL, the realm of every
Bearer challenge, and the ``Location`` of every blob redirect.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import CREDENTIALS, Hint, InvalidOption
from ..oci.redact import redact_url
from ..oci.reference import Reference

ENV_REGISTRY = "DOCKER_REGISTRY_REVERSE_PROXY"
ENV_AUTH = "DOCKER_AUTH_REVERSE_PROXY"
ENV_BLOB = "DOCKER_BLOB_REVERSE_PROXY"
_AUTHORITY_END = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def normalize_base(value: str, *, insecure: bool, what: str) -> str:
    """``host[:port][/path]`` or a URL -> ``scheme://host[:port][/path]`` without a trailing slash."""
    text = value.strip()
    if not text:
        raise InvalidOption(f"{what} is empty")
    if "://" not in text:
        text = f"{'http' if insecure else 'https'}://{text}"
    shown = redact_url(value)
    refuse_userinfo(text, what)
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise InvalidOption(f"{what} {shown!r} is not a usable http(s) URL or host[:port][/path]")
    if parts.query or parts.fragment:
        raise InvalidOption(f"{what} {shown!r} must not have a query or fragment")
    return text.rstrip("/")


def refuse_userinfo(url: str, what: str) -> None:
    """Credentials in an endpoint URL are refused: requests would silently send them as Basic."""
    authority = _AUTHORITY_END.match(url)
    if authority and "@" in authority.group():
        raise InvalidOption(
            f"{what} {redact_url(url)!r} has credentials in it (user@ or user:password@)",
            hint=Hint("remove them; give credentials with ", CREDENTIALS, " or ~/.docker/config.json"),
        )


@dataclass(frozen=True)
class Endpoints:
    """The registry endpoint and proxy rewrites a client applies; all optional.

    With ``hub_only`` (what the seed's environment variables mean) they apply to Docker Hub
    references alone, so a proxy set up for Docker Hub never receives another registry's
    requests, credentials or signed URLs. :meth:`create` and :meth:`from_env` check the URLs.

    Parameters
    ----------
    registry : str, optional
        Base URL requests for ``/v2/`` go to instead of the registry (a mirror or reverse proxy).
    auth : str, optional
        URL the token request goes to instead of the challenge's realm.
    blob : str, optional
        Base URL blob redirects (to a CDN) are rewritten to.
    insecure : bool, default False
        Plain HTTP and unverified TLS allowed to these endpoints.
    hub_only : bool, default False
        Apply to Docker Hub references only.
    """

    registry: str | None = None
    auth: str | None = None
    blob: str | None = None
    insecure: bool = False
    hub_only: bool = False

    def __post_init__(self) -> None:
        named = (("the registry endpoint", self.registry), ("the auth proxy", self.auth), ("the blob proxy", self.blob))
        for what, url in named:
            if url:
                refuse_userinfo(url, what)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, mirror: str | None = None, insecure: bool = False
    ) -> Endpoints:
        """The three ``DOCKER_*_REVERSE_PROXY`` variables (for Docker Hub); an explicit ``mirror`` wins.

        The variables alone apply to Docker Hub references only; with ``mirror`` the caller
        chose the endpoint for the reference at hand, and all settings apply to it.

        Parameters
        ----------
        environ : mapping of str to str, optional
            Where to read the variables; default :data:`os.environ`.
        mirror : str, optional
            The registry endpoint to use instead of ``DOCKER_REGISTRY_REVERSE_PROXY``.
        insecure : bool, default False
            Plain HTTP (the default scheme of a bare host) and unverified TLS allowed to these endpoints.

        Returns
        -------
        Endpoints
            The normalised endpoints; all None when nothing is set.

        Raises
        ------
        InvalidOption
            A value is empty after stripping, not a usable http(s) URL or ``host[:port][/path]``, has a query,
            a fragment or credentials in it; the message names the variable's role (registry endpoint, auth
            proxy, blob proxy). Fix the variable or ``mirror``.
        """
        env = os.environ if environ is None else environ
        return cls.create(
            registry=mirror or env.get(ENV_REGISTRY) or None,
            auth=env.get(ENV_AUTH) or None,
            blob=env.get(ENV_BLOB) or None,
            insecure=insecure,
            hub_only=mirror is None,
        )

    @classmethod
    def create(
        cls,
        *,
        registry: str | None = None,
        auth: str | None = None,
        blob: str | None = None,
        insecure: bool = False,
        hub_only: bool = False,
    ) -> Endpoints:
        """Endpoints from loose ``host[/path]`` values, normalised to URLs.

        Parameters
        ----------
        registry : str, optional
            The registry endpoint (a mirror or reverse proxy), as a URL or ``host[:port][/path]``.
        auth : str, optional
            The token endpoint used instead of the challenge's realm.
        blob : str, optional
            The base URL blob redirects are rewritten to.
        insecure : bool, default False
            A bare host gets ``http://`` rather than ``https://``; plain HTTP and unverified TLS allowed.
        hub_only : bool, default False
            Apply to Docker Hub references only.

        Returns
        -------
        Endpoints
            The endpoints with a scheme and no trailing slash.

        Raises
        ------
        InvalidOption
            A value is empty, not a usable http(s) URL or ``host[:port][/path]``, or has a query, a fragment or
            credentials (``user@``) in it; the message says which value. Give credentials separately.
        """
        return cls(
            registry=normalize_base(registry, insecure=insecure, what="the registry endpoint") if registry else None,
            auth=normalize_base(auth, insecure=insecure, what="the auth proxy") if auth else None,
            blob=normalize_base(blob, insecure=insecure, what="the blob proxy") if blob else None,
            insecure=insecure,
            hub_only=hub_only,
        )

    def applies_to(self, ref: Reference) -> bool:
        """Whether the proxy settings are for this reference's registry.

        Parameters
        ----------
        ref : Reference
            The image being pulled.

        Returns
        -------
        bool
            True unless the settings are ``hub_only`` and ``ref`` is not on Docker Hub.
        """
        return ref.is_docker_hub or not self.hub_only

    def registry_base(self, ref: Reference) -> str:
        """The URL that ``/v2/...`` paths are appended to for ``ref``.

        Parameters
        ----------
        ref : Reference
            The image being pulled.

        Returns
        -------
        str
            The registry endpoint when set and it applies, else ``https://`` (``http://`` when insecure) and
            the reference's registry.
        """
        if self.registry and self.applies_to(ref):
            return self.registry
        return f"{'http' if self.insecure else 'https'}://{ref.registry}"

    def realm(self, realm: str, ref: Reference) -> str:
        """The token endpoint to use for a challenge's ``realm``.

        Parameters
        ----------
        realm : str
            The ``realm`` of the registry's Bearer challenge.
        ref : Reference
            The image being pulled.

        Returns
        -------
        str
            The auth proxy when set and it applies to ``ref``, else ``realm`` unchanged.
        """
        return self.auth if self.auth and self.applies_to(ref) else realm

    def blob_location(self, location: str, ref: Reference) -> str:
        """A redirect target with its scheme and host replaced by the blob proxy, path and query kept.

        Parameters
        ----------
        location : str
            The ``Location`` of a blob redirect.
        ref : Reference
            The image being pulled.

        Returns
        -------
        str
            The rewritten URL; ``location`` unchanged when no blob proxy applies or it is not absolute.
        """
        if not self.blob or not self.applies_to(ref):
            return location
        match = _AUTHORITY_END.match(location)
        return self.blob + location[match.end() :] if match else location
