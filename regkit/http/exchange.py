"""The record of HTTP exchanges: one :class:`Exchange` per request, kept in a :class:`Transcript`.

The fields (and their redaction) are in :mod:`.record`, below :mod:`.formats`, so the exports here
call into :mod:`.formats` without it importing this module back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._repr import HtmlRepr, display_layer
from .record import ExchangeRecord

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Exchange(ExchangeRecord, HtmlRepr):
    """One HTTP request and its response (or the error that replaced it), already redacted.

    Attributes
    ----------
    step : str
        The pull step it belongs to: ``token``, ``manifest``, ``blob``, …
    method, url : str
        The request as sent.
    original_url : str
        The URL meant before a proxy rewrote it (the lane of a sequence diagram).
    request_headers, response_headers : list of (str, str)
        The headers, secrets redacted.
    request_form : list of (str, str)
        A form body sent (the OAuth2 token ``POST``), secrets redacted.
    started : float
        When the request started (``time.perf_counter``).
    attempt : int
        1 for the first attempt, more for retries.
    status : int or None
        The response status; None when no response came.
    reason : str
        The status's reason phrase.
    time_to_headers, total_time : float or None
        Seconds to the response headers and to the end of the body.
    bytes_received : int
        Body bytes received.
    error : str or None
        What replaced the response (refused, TLS, timeout, too slow), if anything did.
    note : str
        What regkit made of it (a redirect followed, a retry, the route that answered).
    body_preview : str
        The start of an error body, redacted.
    proxy : str
        The ``HTTP(S)_PROXY`` the request went through, if any.
    credentials_to : str
        The ``host[:port]`` the user's password went to (token requests), if any.
    credentials_elsewhere : bool
        True when that host is not the registry's.
    """

    def to_curl(self) -> str:
        """The request as a ``curl`` command; secrets appear as shell variables (``$TOKEN``), never values.

        Returns
        -------
        str
            A shell command repeating the request, one option a line, printing the response headers; like
            regkit it follows no redirect, and a blob's body goes to the file ``blob``.
        """
        from .formats import to_curl

        return to_curl(self)


class Transcript(HtmlRepr):
    """Every exchange of a client, in the order the requests were sent; safe to append from threads."""

    def __init__(self) -> None:
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    def append(self, exchange: Exchange) -> None:
        """Record one exchange.

        Parameters
        ----------
        exchange : Exchange
            The exchange, appended last.
        """
        with self._lock:
            self._items.append(exchange)

    def discard(self, exchange: Exchange) -> None:
        """Forget one exchange (an HTTPS attempt replaced by plain HTTP; its error moves to the next note).

        Parameters
        ----------
        exchange : Exchange
            The exchange to forget (compared by identity); absent, nothing happens.
        """
        with self._lock:
            self._items = [e for e in self._items if e is not exchange]

    def __iter__(self) -> Iterator[Exchange]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Exchange:
        return self._items[index]

    def __str__(self) -> str:
        return "\n".join(e.summary() for e in self)

    def __repr__(self) -> str:
        return f"<Transcript of {len(self)} exchanges>"

    def to_dataframe(self) -> pd.DataFrame:
        """One row per exchange (see :data:`regkit.http.formats.COLUMNS`); needs pandas.

        Returns
        -------
        pandas.DataFrame
            One row per exchange, in order.
        """
        from .formats import to_dataframe

        return to_dataframe(list(self))

    def to_har(self, title: str = "regkit") -> dict[str, Any]:
        """A HAR 1.2 document for browser devtools and HAR viewers (write it with ``json.dump``).

        Parameters
        ----------
        title : str, default "regkit"
            The page title the HAR names.

        Returns
        -------
        dict
            The HAR document, secrets redacted.
        """
        from .formats import to_har

        return to_har(list(self), title)

    def to_jsonl(self) -> str:
        """One JSON object per exchange and line.

        Returns
        -------
        str
            JSON Lines, secrets redacted.
        """
        from .formats import to_jsonl

        return to_jsonl(self)

    def sequence(self, title: str = "") -> Any:
        """The exchanges as a sequence diagram (client, registry, token service, CDN): SVG, and text in print().

        Parameters
        ----------
        title : str, default ""
            A title over the diagram.

        Returns
        -------
        SequenceDiagram
            A :class:`regkit.display.sequence.SequenceDiagram`, from the display layer (see :func:`display_layer`).
        """
        return display_layer().sequence(self, title)
