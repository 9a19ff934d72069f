"""What one HTTP exchange records: the request, the response (or the error instead), times, notes.

Secrets are redacted here, when an exchange is recorded, so nothing downstream (reprs, exports,
notebooks, logs) ever holds a token or a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from ..oci.headers import unsigned
from ..oci.redact import redact_headers, redact_pairs, redact_url

R = TypeVar("R", bound="ExchangeRecord")


@dataclass
class ExchangeRecord:
    """The fields of an :class:`~regkit.http.exchange.Exchange`, which the exports in :mod:`.formats` read."""

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
    request_form: list[tuple[str, str]] = field(default_factory=list)  # a form body's fields (the OAuth2 POST)

    @classmethod
    def begin(
        cls: type[R],
        step: str,
        method: str,
        url: str,
        headers: dict[str, str],
        started: float,
        original_url: str | None = None,
        form: list[tuple[str, str]] | None = None,
    ) -> R:
        """A new exchange for a request about to be sent; URLs, headers and form fields are redacted here.

        Parameters
        ----------
        step : str
            The pull step it belongs to.
        method : str
            The HTTP method.
        url : str
            The URL as sent.
        headers : dict of str to str
            The request headers as sent.
        started : float
            When the request starts (epoch seconds).
        original_url : str, optional
            The URL before a proxy setting rewrote it; default ``url``.
        form : list of (str, str), optional
            The fields of a form body.

        Returns
        -------
        ExchangeRecord
            An exchange of the class it is called on, with no response yet.
        """
        return cls(
            step=step,
            method=method,
            url=redact_url(url),
            original_url=redact_url(original_url or url),
            request_headers=redact_headers(headers),
            started=started,
            request_form=redact_pairs(form or []),
        )

    def header(self, name: str) -> str | None:
        """A response header's value (case-insensitive), or None.

        Parameters
        ----------
        name : str
            The header's name, in any case.

        Returns
        -------
        str or None
            The first value sent under ``name`` (redacted if secret); None when there is none.
        """
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
        """One line: ``GET url -> 200 OK (1.2 kB, 35 ms)``.

        Returns
        -------
        str
            The step, method, URL, proxy and outcome (status and size, or the error), with the note.
        """
        if self.error:
            outcome = f"failed: {self.error}"
        else:
            ms = f", {self.total_time * 1000:.0f} ms" if self.total_time is not None else ""
            outcome = f"{self.status} {self.reason} ({self.bytes_received} B{ms})"
        note = f" [{self.note}]" if self.note else ""
        via = f" via proxy {self.proxy}" if self.proxy else ""
        return f"{self.step}: {self.method} {self.url}{via} -> {outcome}{note}"
