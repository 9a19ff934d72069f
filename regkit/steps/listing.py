"""Tag lists and the catalogue, page by page (see :mod:`regkit.oci.paging` for the paging rules and bounds).

``tag_list(ref)`` lists a repository's tags, ``registry_catalog(host)`` a registry's repositories; both
return a :class:`NameList` (``.frame()`` is a DataFrame). The token comes from the first request's 401
challenge (``repository:<name>:pull`` for tags, ``registry:catalog:*`` for the catalogue) and is renewed
as it expires while the pages go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._repr import HtmlRepr
from ..errors import AuthError, InvalidReference, ListingStopped, NotFound, UsageError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..oci import jsonsafe
from ..oci.paging import MAX_NAMES, MAX_PAGE_BYTES, Pager, follow, next_link, page_size, with_query
from ..oci.reference import Reference, resolve, valid_tag
from .auth import Token, token_from_challenge
from .fetcher import Fetcher

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

TAGS, REPOSITORIES = "tags", "repositories"


@dataclass(frozen=True)
class NameList(HtmlRepr):
    """The names one listing returned, in the registry's order: ``kind`` is ``tags`` or ``repositories``.

    Attributes
    ----------
    kind : {"tags", "repositories"}
        What was listed.
    source : str
        The repository (for tags) or the registry host (for the catalogue).
    names : tuple of str
        The names, in the registry's order.
    pages : int
        How many pages the listing took.
    exchanges : tuple of Exchange
        Every request made, tokens included.
    """

    kind: str
    source: str  # the repository (for tags) or the registry host (for the catalogue)
    names: tuple[str, ...]
    pages: int
    exchanges: tuple[Exchange, ...] = field(repr=False)

    def frame(self) -> pd.DataFrame:
        """Tags: columns ``repository``, ``tag``; catalogue: ``registry``, ``repository``; one row per name.

        Returns
        -------
        pandas.DataFrame
            In the registry's order; ``attrs`` holds ``kind``, ``pages`` and ``requests`` (the exchanges made).
        """
        import pandas as pd

        owner, column = ("repository", "tag") if self.kind == TAGS else ("registry", "repository")
        frame = pd.DataFrame({owner: [self.source] * len(self.names), column: list(self.names)})
        frame.attrs.update(kind=self.kind, pages=self.pages, requests=len(self.exchanges))
        return frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary.

        Returns
        -------
        dict
            ``kind``, ``source``, ``pages``, and the names under ``tags`` or ``repositories``.
        """
        return {"kind": self.kind, "source": self.source, "pages": self.pages, self.kind: list(self.names)}


def tag_list(
    ref: Reference | str,
    *,
    page_size: int | None = None,
    max_names: int = MAX_NAMES,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> NameList:
    """Every tag of ``ref``'s repository (its tag or digest is ignored), following the registry's pages.

    Parameters
    ----------
    ref : Reference or str
        The repository; a tag or digest in it is ignored.
    page_size : int, optional
        The ``n`` asked per page; default the registry's choice bounded by :mod:`regkit.oci.paging`.
    max_names : int, default 100000
        Stop with :class:`ListingStopped` past this many names.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`Client`).

    Returns
    -------
    NameList
        The tags, pages and exchanges.

    Raises
    ------
    ListingStopped
        The listing could not be finished (a loop, a repeated page, ``max_names`` passed); ``listed`` holds
        the names listed before it stopped.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref = as_reference(ref)
    with client_for(client, options) as session:
        return list_names(session, ref, TAGS, page_size, max_names, [])


def registry_catalog(
    host: str,
    *,
    page_size: int | None = None,
    max_names: int = MAX_NAMES,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> NameList:
    """Every repository ``GET /v2/_catalog`` lists on the registry ``host`` (``host[:port]``).

    Parameters
    ----------
    host : str
        The registry, as ``host[:port]``.
    page_size : int, optional
        The ``n`` asked per page; default the registry's choice bounded by :mod:`regkit.oci.paging`.
    max_names : int, default 100000
        Stop with :class:`ListingStopped` past this many names.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`Client`).

    Returns
    -------
    NameList
        The repositories, pages and exchanges.

    Raises
    ------
    ListingStopped
        The listing could not be finished (a loop, a repeated page, ``max_names`` passed); ``listed`` holds
        the names listed before it stopped.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref = registry_reference(host)
    with client_for(client, options) as session:
        return list_names(session, ref, REPOSITORIES, page_size, max_names, [])


def list_tags(ref: Reference | str, **kwargs: Any) -> pd.DataFrame:
    """:func:`tag_list` as a DataFrame: columns ``repository``, ``tag`` (pages and requests in ``.attrs``).

    Parameters
    ----------
    ref : Reference or str
        The repository; a tag or digest in it is ignored.
    **kwargs
        What :func:`tag_list` takes: ``page_size``, ``max_names``, ``client`` or client options.

    Returns
    -------
    pandas.DataFrame
        One row per tag.

    Raises
    ------
    ListingStopped
        The listing could not be finished (a loop, a repeated page, ``max_names`` passed); ``listed`` holds
        the names listed before it stopped.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    return tag_list(ref, **kwargs).frame()


def catalog(host: str, **kwargs: Any) -> pd.DataFrame:
    """:func:`registry_catalog` as a DataFrame: columns ``registry``, ``repository``.

    Parameters
    ----------
    host : str
        The registry, as ``host[:port]``.
    **kwargs
        What :func:`registry_catalog` takes: ``page_size``, ``max_names``, ``client`` or client options.

    Returns
    -------
    pandas.DataFrame
        One row per repository.

    Raises
    ------
    ListingStopped
        The listing could not be finished (a loop, a repeated page, ``max_names`` passed); ``listed`` holds
        the names listed before it stopped.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    return registry_catalog(host, **kwargs).frame()


def registry_reference(host: str) -> Reference:
    """A reference standing for the registry ``host`` itself (for its endpoint, credentials and tokens)."""
    text = host.strip() if isinstance(host, str) else ""
    if not text or "/" in text or "@" in text:
        raise UsageError(f"give a registry as host[:port], like 127.0.0.1:5000 or ghcr.io, not {host!r}")
    try:
        return resolve(f"{text}/catalog")
    except InvalidReference as exc:
        raise UsageError(f"{text!r} is not a registry host[:port]: {exc.message}") from None


def list_names(
    client: Client, ref: Reference, kind: str, n: int | None, max_names: int, log: list[Exchange]
) -> NameList:
    """Page through ``tags/list`` or ``_catalog``; every exchange goes to the result and to ``log``."""
    size = page_size(n)
    what = f"the tags of {ref.name}" if kind == TAGS else f"the catalogue of {ref.registry}"
    pager = Pager(what, max_names)
    accept = {"Accept": "application/json"}
    exchanges: list[Exchange] = []  # the probe's and the challenge's; the pages' are the fetcher's
    fetcher: Fetcher | None = None
    try:
        # Unauthenticated first, as a probe: its 401 names the scope (tags: pull; catalogue: registry:catalog:*),
        # and an insecure registry's scheme is settled before the URL of the first page is built.
        url, meant = _first_page(client, ref, kind, size)
        pager.ask(url)
        response = client.send("list", "GET", url, headers=accept, original_url=meant)
        exchanges.extend(response.attempts)
        token = Token("none")
        if response.status == 401:
            response.preview()
            scope = ref.scope if kind == TAGS else "registry:catalog:*"
            token = token_from_challenge(client, ref, response.exchange, scope=scope)
            if token.exchanges and token.exchanges[0] is response.exchange:  # a new token, not a cached one
                exchanges.extend(token.exchanges[1:])
        fetcher = Fetcher(client, ref, token=token)
        if response.status == 401:
            url, meant = _first_page(client, ref, kind, size)
            response = fetcher.send("list", "GET", url, meant, accept)
        linked = False
        while True:
            url = response.raw.url or url  # after an insecure registry's fall back to plain HTTP, that one
            try:
                names = _page_names(response, kind, what, pager)
                link = next_link(response.headers.get("Link"))
                linked = linked or link is not None
                # No Link at all, and a full page: the spec's older way, asking from the last name on.
                asks_last = not linked and bool(names) and len(names) == size
                pager.add(names, link is not None or asks_last)
                following = follow(link, url) if link is not None else None
                if asks_last:
                    following = with_query(url, n=size, last=names[-1])
                if following is not None:
                    pager.ask(following)
            except ListingStopped as exc:
                exc.listed = exc.listed or tuple(pager.names)
                exc.exchange = exc.exchange or response.exchange
                raise
            if following is None:
                source = ref.repository if kind == TAGS else ref.registry
                return NameList(kind, source, tuple(pager.names), pager.pages, (*exchanges, *fetcher.exchanges))
            url = following
            meant = urlsplit(meant)._replace(query=urlsplit(url).query).geturl()
            response = fetcher.send("list", "GET", url, meant, accept)
    finally:
        log.extend((*exchanges, *(fetcher.exchanges if fetcher is not None else ())))


def _first_page(client: Client, ref: Reference, kind: str, size: int) -> tuple[str, str]:
    """The URLs (sent, meant) of the first page."""
    sent, meant = client.registry_url(ref, "tags/list") if kind == TAGS else client.endpoint(ref, "_catalog")
    return with_query(sent, n=size), with_query(meant, n=size)


def _page_names(response: Any, kind: str, what: str, pager: Pager) -> list[str]:
    """The names of one page, each checked; a registry's refusal becomes a one-line error."""
    exchange = response.exchange
    if response.status == 404 and kind == REPOSITORIES:
        response.preview()
        raise NotFound(f"{what}: this registry has no catalogue (GET /v2/_catalog answered 404)", exchange=exchange)
    if response.status in (401, 403) and kind == REPOSITORIES:
        response.preview()
        raise AuthError(
            f"{what}: the registry does not list its catalogue to these credentials ({response.status})",
            exchange=exchange,
            hint="the catalogue needs the registry:catalog:* scope, which many registries give to admins only",
        )
    if response.status != 200:
        raise error_for(response, what)
    raw = response.read(MAX_PAGE_BYTES, f"a page of {what}")
    try:
        doc = jsonsafe.loads(raw)
    except jsonsafe.JsonError as exc:
        raise pager.stop(f"a page of {what} is not JSON ({exc})") from None
    found = doc.get(kind) if isinstance(doc, dict) else None
    names = [] if found is None else found  # a repository without tags may say "tags": null
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise pager.stop(f"a page of {what} has no list of {kind}")
    for name in names:
        if not _valid(name, kind):
            raise pager.stop(f"the registry listed {name[:140]!r} in {what}, which is not a valid name")
    return names


def _valid(name: str, kind: str) -> bool:
    """A tag by distribution/reference's grammar, or a repository path by the same grammar."""
    if kind == TAGS:
        return valid_tag(name)
    try:
        resolve(f"registry.invalid/{name}")
    except InvalidReference:
        return False
    return True
