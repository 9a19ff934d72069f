"""The record of HTTP exchanges: one :class:`Exchange` per request, kept in a :class:`Transcript`.

Secrets are redacted when an exchange is recorded, so nothing downstream (reprs, exports,
notebooks, logs) ever holds a token or a password.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..oci.headers import unsigned
from ..oci.redact import redact_headers, redact_url

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Exchange:
    """One HTTP request and its response (or the error that replaced it), already redacted."""

    step: str
    method: str
    url: str
    original_url: str
    request_headers: list[tuple[str, str]]
    started: float
    attempt: int = 1
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    time_to_headers: float | None = None
    total_time: float | None = None
    bytes_received: int = 0
    error: str | None = None
    note: str = ""
    body_preview: str = ""
    proxy: str = ""  # the HTTP(S)_PROXY the request went through (requests honours the environment)
    credentials_to: str = ""  # host[:port] the user's password went to (token requests), if any
    credentials_elsewhere: bool = False  # ... and that host is not the registry's

    @classmethod
    def begin(
        cls, step: str, method: str, url: str, headers: dict[str, str], started: float, original_url: str | None = None
    ) -> Exchange:
        """A new exchange for a request about to be sent; URLs and headers are redacted here."""
        return cls(
            step=step,
            method=method,
            url=redact_url(url),
            original_url=redact_url(original_url or url),
            request_headers=redact_headers(headers),
            started=started,
        )

    def header(self, name: str) -> str | None:
        """A response header's value (case-insensitive), or None."""
        lname = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == lname), None)

    @property
    def content_type(self) -> str | None:
        """The response's Content-Type."""
        return self.header("content-type")

    @property
    def content_length(self) -> int | None:
        """The response's declared Content-Length, if it is a number."""
        return unsigned(self.header("content-length"))

    @property
    def throughput(self) -> float | None:
        """Bytes per second over the whole exchange."""
        if not self.total_time or not self.bytes_received:
            return None
        return self.bytes_received / self.total_time

    @property
    def ended(self) -> float | None:
        """Wall-clock time (epoch seconds) the exchange finished, None while the body is still unread."""
        return None if self.total_time is None else self.started + self.total_time

    @property
    def rewritten(self) -> bool:
        """True when a proxy setting changed the URL that was sent."""
        return self.url != self.original_url

    def summary(self) -> str:
        """One line: ``GET url -> 200 OK (1.2 kB, 35 ms)``."""
        if self.error:
            outcome = f"failed: {self.error}"
        else:
            ms = f", {self.total_time * 1000:.0f} ms" if self.total_time is not None else ""
            outcome = f"{self.status} {self.reason} ({self.bytes_received} B{ms})"
        note = f" [{self.note}]" if self.note else ""
        via = f" via proxy {self.proxy}" if self.proxy else ""
        return f"{self.step}: {self.method} {self.url}{via} -> {outcome}{note}"

    def to_curl(self) -> str:
        """The request as a ``curl`` command; secrets appear as shell variables (``$TOKEN``), never values."""
        from .formats import to_curl

        return to_curl(self)

    def _repr_html_(self) -> str:
        from ..display.html import exchange_html

        return exchange_html(self)


class Transcript:
    """Every exchange of a client, in the order the requests were sent; safe to append from threads."""

    def __init__(self) -> None:
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    def append(self, exchange: Exchange) -> None:
        """Record one exchange."""
        with self._lock:
            self._items.append(exchange)

    def discard(self, exchange: Exchange) -> None:
        """Forget one exchange (an HTTPS attempt replaced by plain HTTP; its error moves to the next note)."""
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
        """One row per exchange (see :data:`regkit.http.formats.COLUMNS`); needs pandas."""
        from .formats import to_dataframe

        return to_dataframe(list(self))

    def to_har(self, title: str = "regkit") -> dict[str, Any]:
        """A HAR 1.2 document for browser devtools and HAR viewers (write it with ``json.dump``)."""
        from .formats import to_har

        return to_har(list(self), title)

    def to_jsonl(self) -> str:
        """One JSON object per exchange and line."""
        from .formats import to_jsonl

        return to_jsonl(self)

    def _repr_html_(self) -> str:
        from ..display.html import exchanges_html

        return exchanges_html(list(self))
