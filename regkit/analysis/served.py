"""One request as a server answered it: the row a server's log gives (pure data; the lab reads the logs)."""

from __future__ import annotations

from typing import NamedTuple


class Served(NamedTuple):
    """What one server answered one request: when (epoch seconds, as logged), what, and how."""

    time: float
    server: str
    method: str
    path: str  # without the query string: a CDN URL's signature stays out of every log row
    status: int
    bytes: int  # body bytes sent
    auth: bool | None  # whether the request carried Authorization; None where the server's log cannot tell

    @property
    def blob(self) -> bool:
        """A blob or its CDN download (registry paths ``/v2/NAME/blobs/…``, CDN paths ``…/blobs/sha256/…``)."""
        return "/blobs/" in self.path


def blob_bytes(served: list[Served] | tuple[Served, ...]) -> int:
    """Body bytes of the blobs answered ``200`` (layers and configs; a redirect carries none)."""
    return sum(row.bytes for row in served if row.blob and row.status == 200)
