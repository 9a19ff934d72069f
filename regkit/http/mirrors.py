"""Mirrors the way the Docker engine uses ``registry-mirrors``: for Docker Hub names only, in order, then Hub.

The engine tries each mirror and, when one fails, the next one and finally Docker Hub itself,
without saying so: a broken mirror shows up only as Hub's error, or not at all. regkit does the
same (``--mirror-only`` stops before Hub) but records every attempt in the transcript: each
attempt's first exchange carries a note naming the route and whether it answered.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from ..errors import Cancelled, Hint, InvalidOption, Option, RegkitError
from ..oci.reference import Reference
from .endpoints import Endpoints, normalize_base
from .exchange import Exchange

if TYPE_CHECKING:
    from .client import Client

T = TypeVar("T")
MIRRORS_ONLY = Option("only=True", "--mirror-only")
_ROUTE_NOTE = re.compile(r"\[route: (.*?)\](?= \[route: |$)")


@dataclass(frozen=True)
class Route:
    """One place a pull may be answered from: a mirror, or the registry itself."""

    label: str
    endpoints: Endpoints


@dataclass(frozen=True)
class Mirrors:
    """Mirror base URLs for Docker Hub names, tried in order; then the registry itself unless ``only``.

    Build them with :meth:`create` (loose values) or :meth:`from_daemon_config` (``daemon.json``).

    Parameters
    ----------
    urls : tuple of str
        The mirrors' base URLs, normalised.
    only : bool, default False
        Stop after the mirrors, without falling back to the registry.
    insecure_registries : tuple of str
        ``host[:port]`` or CIDR entries whose mirrors may be plain HTTP, as in ``daemon.json``.
    """

    urls: tuple[str, ...] = ()
    only: bool = False
    insecure_registries: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        urls: Iterable[str],
        *,
        only: bool = False,
        insecure_registries: Iterable[str] = (),
        insecure: bool = False,
    ) -> Mirrors:
        """Mirrors from loose ``host[:port][/path]`` values or URLs (https unless ``insecure``).

        Parameters
        ----------
        urls : iterable of str
            The mirrors, in the order to try them.
        only : bool, default False
            Stop after the mirrors, without falling back to the registry.
        insecure_registries : iterable of str, default ()
            ``host[:port]`` or CIDR entries whose mirrors may be plain HTTP, as in ``daemon.json``.
        insecure : bool, default False
            A bare host gets ``http://`` rather than ``https://``.

        Returns
        -------
        Mirrors
            The mirrors with normalised URLs.

        Raises
        ------
        InvalidOption
            A mirror is empty, not a usable http(s) URL or ``host[:port][/path]``, or has a query, a fragment or
            credentials in it; or ``only`` is given without any mirror. The message says which.
        """
        normalized = tuple(normalize_base(url, insecure=insecure, what="the mirror") for url in urls)
        if only and not normalized:
            raise InvalidOption(
                "trying mirrors only needs at least one mirror", hint=Hint("give a mirror, or leave out ", MIRRORS_ONLY)
            )
        return cls(normalized, only, tuple(insecure_registries))

    @classmethod
    def from_daemon_config(cls, path: str | os.PathLike[str], *, only: bool = False) -> Mirrors:
        """``registry-mirrors`` and ``insecure-registries`` of a Docker ``daemon.json``.

        Parameters
        ----------
        path : str or os.PathLike
            The ``daemon.json`` file.
        only : bool, default False
            Stop after the mirrors, without falling back to the registry.

        Returns
        -------
        Mirrors
            The file's mirrors, in its order; none when it names none.

        Raises
        ------
        InvalidOption
            The file cannot be read, is not JSON, either key is not a list of strings, or a mirror is not a
            usable URL (as :meth:`create` says); ``only`` with no mirror in the file.
        """
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as exc:
            raise InvalidOption(f"cannot read the daemon config {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidOption(f"the daemon config {path} is not JSON: {exc}") from None
        mirrors = doc.get("registry-mirrors", []) if isinstance(doc, dict) else None
        insecure = doc.get("insecure-registries", []) if isinstance(doc, dict) else None
        for key, value in (("registry-mirrors", mirrors), ("insecure-registries", insecure)):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise InvalidOption(f"{key} in {path} must be a list of strings")
        return cls.create(mirrors or [], only=only, insecure_registries=insecure or [])

    def is_insecure(self, url: str) -> bool:
        """Whether ``insecure-registries`` names the mirror's host (``host[:port]`` or a CIDR).

        Parameters
        ----------
        url : str
            A mirror's base URL.

        Returns
        -------
        bool
            True when an entry equals its ``host:port`` or host, or is a network containing its IP address.
        """
        parts = urlsplit(url)
        for entry in self.insecure_registries:
            if entry in (parts.netloc, parts.hostname):
                return True
            try:
                if ipaddress.ip_address(parts.hostname or "") in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def routes(self, ref: Reference, endpoints: Endpoints) -> list[Route]:
        """Where to try ``ref``, in order: the mirrors (Docker Hub names only), then the registry.

        Parameters
        ----------
        ref : Reference
            The image being pulled.
        endpoints : Endpoints
            The client's endpoints, which each route varies.

        Returns
        -------
        list of Route
            One route per mirror, then Docker Hub itself unless ``only``; for a name not on Docker Hub, or no
            mirrors, the one route ``endpoints``.
        """
        if not ref.is_docker_hub or not self.urls:
            # The endpoints already say where another registry's names go (a single --mirror: there too).
            return [Route(f"the registry {ref.registry}", endpoints)]
        direct = replace(endpoints, registry=None, hub_only=True)
        routes = [
            Route(
                f"mirror {i}/{len(self.urls)} {url}",
                replace(endpoints, registry=url, insecure=endpoints.insecure or self.is_insecure(url)),
            )
            for i, url in enumerate(self.urls, 1)
        ]
        if not self.only:
            routes.append(Route(f"the registry {ref.registry} (fallback)", direct))
        return routes


def routed(client: Client, endpoints: Endpoints) -> Client:
    """A view of ``client`` sending to ``endpoints``; the client itself is left as it is.

    Parameters
    ----------
    client : Client
        The caller's client; its transport, credentials, token cache, transcript and abort are shared.
    endpoints : Endpoints
        Where the view sends requests (a mirror, or the registry itself); insecure when they are.

    Returns
    -------
    Client
        A shallow copy differing only in ``endpoints`` and ``insecure``: closing it would close the shared
        transport, so it is never closed, and aborting the client aborts its views.
    """
    view = copy.copy(client)
    view.endpoints = endpoints
    view.insecure = client.insecure or endpoints.insecure
    return view


def first_answer(client: Client, ref: Reference, mirrors: Mirrors, attempt: Callable[[Client], T]) -> T:
    """Run ``attempt`` on a routed view of ``client`` for each route in turn until one succeeds.

    The caller's client is never changed (a Ctrl-C mid-way or another thread using it sees it as
    configured); ``attempt`` keeps the view it was given to go on with the route that answered.

    Parameters
    ----------
    client : Client
        The caller's client, shared by every route (see :func:`routed`).
    ref : Reference
        The image whose routes are tried (mirrors apply to Docker Hub names only).
    mirrors : Mirrors
        The mirrors, in order; without any, the one route is the client's own endpoints.
    attempt : callable
        Called with each route's view of the client; returns what the caller wants from the route.

    Returns
    -------
    T
        What ``attempt`` returned for the first route that answered.

    Raises
    ------
    RegkitError
        The first route's error when every route failed, its hint naming the others: the mirror's own
        error says more than the fallback's (behind a firewall Docker Hub just cannot be reached).
    Cancelled
        At once, when the pull is interrupted; no further route is tried.
    """
    # Explicit credentials bind to the first registry they are used for: bind them on the caller's client,
    # not on a view that is gone afterwards, so a later pull elsewhere never receives them.
    if client.credentials is not None and client.credentials.registry is None:
        client.credentials_for(ref)
    routes = mirrors.routes(ref, client.endpoints)
    failures: list[tuple[Route, RegkitError]] = []
    for route in routes:
        view = routed(client, route.endpoints)
        start = len(client.transcript)
        try:
            result = attempt(view)
        except Cancelled:
            raise
        except RegkitError as exc:
            failures.append((route, exc))
            _mark(client, start, f"{route.label} failed: {exc.message}")
            continue
        if len(routes) > 1:
            _mark(client, start, f"{route.label} answered")
        return result
    first = failures[0][1]
    if len(failures) > 1:
        later = f"{failures[0][0].label} failed with this; " + "; ".join(
            f"{route.label} failed too: {exc.message}" for route, exc in failures[1:]
        )
        first.hint = first.hint + "; " + later if first.hint else later
    raise first


def attempts(exchanges: Iterable[Exchange]) -> list[str]:
    """What each route did (``mirror 1/2 URL failed: …``, ``… answered``), from the exchanges' notes."""
    return [match[1] for exchange in exchanges for match in _ROUTE_NOTE.finditer(exchange.note)]


def _mark(client: Client, start: int, text: str) -> None:
    """Add ``[route: text]`` to the note of the first exchange from ``start`` on."""
    exchanges = list(client.transcript)[start:]
    if exchanges:
        exchanges[0].note = f"{exchanges[0].note} [route: {text}]".strip()
