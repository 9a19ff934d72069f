"""Paging of tag lists and the catalogue, as the distribution spec has it and as registries really do it (pure).

The spec: ``GET …/tags/list?n=N`` answers at most N names and, when more follow, a ``Link: <url>; rel="next"``
header whose URL (often relative, sometimes with the registry's own parameters such as ACR's ``orderby=`` or
Quay's opaque ``next_page=``) is followed as it is. Only a registry that sends no ``Link`` is asked with
``last=<the last name>``: others use opaque cursors and refuse or ignore a rebuilt one. ``n`` is at most 1000,
the highest every dialect accepts (ECR refuses more with ``UNSUPPORTED``).

A hostile or broken registry is bounded: a ``Link`` to a page already fetched, a page that lists only names
already listed, runs of empty pages, and more names than the budget end the listing with
:class:`~regkit.errors.ListingStopped`, which carries what was listed so far.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ..errors import InvalidOption, ListingStopped
from .budget_options import MAX_NAMES

MAX_PAGE_SIZE = 1000  # ECR's cap on n (maxResults); the others accept it
EMPTY_PAGES = 3  # empty pages in a row that still say "next": a registry that never ends
MAX_PAGE_BYTES = 16 << 20  # 1000 names of 255 characters are 256 KiB; far more is not a page
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_NEXT = re.compile(r"""rel\s*=\s*"?([^";]*)"?""", re.IGNORECASE)


def page_size(n: int | None) -> int:
    """``n`` checked, or the largest every dialect accepts."""
    if n is None:
        return MAX_PAGE_SIZE
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PAGE_SIZE:
        raise InvalidOption(f"a page size must be from 1 to {MAX_PAGE_SIZE} (ECR refuses more), not {n!r}")
    return n


def next_link(header: str | None) -> str | None:
    """The URL of ``rel="next"`` in a ``Link`` header (RFC 8288), as written (maybe relative)."""
    for match in _LINK.finditer(header or ""):
        for rel in _NEXT.findall(match.group(2)):
            if "next" in rel.lower().split():
                return match.group(1).strip()
    return None


def follow(link: str, request_url: str) -> str:
    """The absolute URL to ask next: ``link`` resolved against the request's URL, its parameters kept.

    It must stay on the request's scheme, host and port (the token goes with it) and name the same
    endpoint; a registry behind a path-prefixed proxy that links to ``/v2/…`` gets the proxy's prefix back.
    """
    base, target = urlsplit(request_url), urlsplit(urljoin(request_url, link))
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise ListingStopped(
            f"the registry's Link points to another server ({target.scheme}://{target.netloc}); not followed, "
            "as the token would go with it"
        )
    _, marker, endpoint = base.path.rpartition("/v2/")
    if not marker or not target.path.endswith(f"/v2/{endpoint}"):
        raise ListingStopped(f"the registry's Link leads to {target.path!r}, not to /v2/{endpoint}")
    return urlunsplit((base.scheme, base.netloc, base.path, target.query, ""))


def with_query(url: str, **params: str | int) -> str:
    """``url`` with ``params`` set in its query (replacing the same names, keeping the others)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *((k, str(v)) for k, v in params.items())])))


class Pager:
    """The state of one listing: names so far, pages asked, and the checks that bound a hostile registry."""

    def __init__(self, what: str, max_names: int = MAX_NAMES) -> None:
        if isinstance(max_names, bool) or not isinstance(max_names, int) or max_names < 1:
            raise InvalidOption(f"the budget of names must be a positive integer, not {max_names!r}")
        self.what = what
        self.max_names = max_names
        self.names: dict[str, None] = {}  # ordered, and a repeat is seen at once
        self.asked: set[str] = set()
        self.pages = 0
        self._empty_run = 0

    def ask(self, url: str) -> None:
        """Note that ``url`` is asked next; a second time means the registry's links go round in a loop."""
        if url in self.asked:
            raise self.stop(f"the registry's paging of {self.what} loops back to a page already fetched ({url})")
        self.asked.add(url)

    def add(self, names: list[str], more: bool) -> None:
        """Take one page's names (already validated); ``more`` when the registry says another page follows."""
        self.pages += 1
        fresh = [name for name in names if name not in self.names]
        if names and not fresh:
            raise self.stop(
                f"page {self.pages} of {self.what} repeats names already listed: the registry ignores paging"
            )
        self._empty_run = 0 if names else self._empty_run + 1
        if more and self._empty_run >= EMPTY_PAGES:
            raise self.stop(f"{self.what}: {EMPTY_PAGES} empty pages in a row that still announce a next one")
        for name in fresh:
            if len(self.names) >= self.max_names:
                raise self.stop(
                    f"{self.what} passes the budget of {self.max_names} names; refused",
                    hint="raise it with --max-tags N (max_names=N) if the registry is trusted",
                )
            self.names[name] = None

    def stop(self, message: str, hint: str | None = None) -> ListingStopped:
        """The error that ends the listing, carrying the names listed so far."""
        shown = f"{message} (after {len(self.names)} names in {self.pages} pages)"
        return ListingStopped(shown, listed=tuple(self.names), hint=hint)
