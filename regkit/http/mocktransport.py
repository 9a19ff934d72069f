"""A transport seam in the spirit of httpx's ``MockTransport``: a handler function answers instead of a server.

``Client(transport=MockTransport(handler))`` runs the real client code — retries, redirects, limits,
redaction, recording — against answers no real server gives (a 5 MiB manifest, an endless blob, a
header that would split in two). Real servers stay the rule for everything a server can do.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse as Urllib3Response

from .timeouts import DEFAULT_TIMEOUT
from .transport import Transport


@dataclass
class Answer:
    """What the handler sends back: status, headers (repeats allowed) and a body, whole or in chunks.

    ``Content-Length`` is added for a whole body unless the headers name one (a lie is the point, at times).
    """

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: Mapping[str, str] | list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""


Handler = Callable[[requests.PreparedRequest], Answer]


class _Chunks(io.RawIOBase):
    """A readable stream over an iterable of chunks, read as the client asks for them."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class _HandlerAdapter(HTTPAdapter):
    """requests' adapter interface, answered by ``handler`` instead of a connection."""

    def __init__(self, handler: Handler) -> None:
        super().__init__(max_retries=0)
        self.handler = handler

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        answer = self.handler(request)
        headers = HTTPHeaderDict(
            list(answer.headers.items()) if isinstance(answer.headers, Mapping) else answer.headers
        )
        whole = isinstance(answer.body, bytes)
        if whole and "content-length" not in headers:
            headers["Content-Length"] = str(len(answer.body))  # type: ignore[arg-type]
        body = b"" if request.method == "HEAD" else answer.body
        raw = Urllib3Response(
            body=io.BufferedReader(_Chunks([body] if isinstance(body, bytes) else body)),
            headers=headers,
            status=answer.status,
            reason=answer.reason or _phrase(answer.status),
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        return self.build_response(request, raw)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class MockTransport(Transport):
    """A :class:`Transport` whose every request is answered by ``handler``, through requests as usual.

    For answers no real server gives (a hostile registry in the tests); ``Client(transport=...)`` takes it.

    Parameters
    ----------
    handler : callable
        Takes the ``requests.PreparedRequest`` and returns an :class:`Answer` (status, headers, body).
    timeout : (float, float or None), optional
        Connect and read timeouts, as the real transport's.
    """

    def __init__(self, handler: Handler, *, timeout: tuple[float, float | None] = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        adapter = _HandlerAdapter(handler)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
