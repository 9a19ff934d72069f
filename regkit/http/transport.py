"""HTTP I/O: one ``requests.Session``, no automatic redirects, every request recorded.

Redirects are never followed by requests here: requests keeps ``Authorization`` when a redirect
stays on the same scheme, host and port, which leaks the registry token to a blob CDN served
behind the same reverse proxy. Callers follow redirects themselves (see :mod:`regkit.steps.blobs`).
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..errors import TransportError
from ..oci.redact import host_of, redact_headers, redact_text, redact_url, scrub, secrets_in, without_userinfo
from .deadline import HeaderDeadline, header_deadline, with_deadline
from .exchange import Exchange
from .timeouts import DEFAULT_TIMEOUT
from .tls import TlsSettings

CHUNK_SIZE = 1 << 20
# A response body we only want to show (error pages) is cut here.
PREVIEW_LIMIT = 2048


# requests' errors are OSErrors too; these say nothing about the connection and must not be retried.
_NOT_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    ValueError,  # a header value that cannot be encoded, for one
)


# urllib3's words when an HTTPS proxy answers CONNECT with anything but 2xx (407, 403 ...).
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3}[\w ]*)")


def _describe(exc: Exception, url: str) -> tuple[str, str]:
    """``(kind, sentence)`` naming the host and what went wrong, without requests' nested noise.

    Kinds: ``http-to-https``, ``tls``, ``connect-timeout``, ``read-timeout``, ``header-timeout``, ``dns``,
    ``refused``, ``protocol``, ``proxy`` (the proxy refused the tunnel), ``reset`` (the only transient one: the
    connection broke), ``other``.
    """
    host = host_of(url)
    text = redact_text(str(exc))
    broken = _broken_http(exc)
    if broken is not None:
        return broken[0], f"{host} {broken[1]}"
    if isinstance(exc, _NOT_CONNECTION_ERRORS):
        return "other", f"cannot send the request to {host}: {exc.__class__.__name__}"
    if isinstance(exc, requests.exceptions.SSLError):
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return "http-to-https", f"{host} answered plain HTTP to a TLS (https) request"
        return "tls", f"TLS failed with {host}: {_last_reason(text)}"
    tunnel = _TUNNEL_REFUSED.search(text) if isinstance(exc, requests.exceptions.ProxyError) else None
    if tunnel is not None:
        return "proxy", f"the proxy refused a tunnel (CONNECT) to {host}: {tunnel[1].strip()}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-timeout", f"connecting to {host} timed out"
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)):
        return "read-timeout", f"{host} stopped sending data (read timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if any(p in text for p in ("Name or service not known", "nodename nor servname", "name resolution")):
            return "dns", f"cannot resolve host {host} (DNS)"
        if "Connection refused" in text:
            return "refused", f"connection to {host} refused (nothing listens there, or a firewall rejects it)"
        return "reset", f"connection to {host} failed: {_last_reason(text)}"
    if isinstance(exc, (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError, OSError)):
        return "reset", f"connection to {host} broke: {_last_reason(text)}"
    return "other", f"request to {host} failed: {exc.__class__.__name__}: {_last_reason(text)}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: requests and urllib3 nest the real reason in ``args`` or as the cause."""
    todo, seen = [exc], 0
    while todo and seen < 20:
        current = todo.pop()
        seen += 1
        yield current
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [c for c in (current.__cause__, current.__context__) if c is not None]


def _broken_http(exc: BaseException) -> tuple[str, str] | None:
    """``(kind, what the server did)`` when its answer was not valid HTTP, in words rather than class names."""
    for cause in _causes(exc):
        if isinstance(cause, HeaderDeadline):
            return "header-timeout", str(cause)
        if isinstance(cause, http.client.LineTooLong):
            return "protocol", "sent a header line longer than 64 KiB (not an HTTP server, or a hostile one)"
        if isinstance(cause, http.client.RemoteDisconnected):
            return "reset", "closed the connection without answering"
        if isinstance(cause, http.client.BadStatusLine):
            line = str(cause.args[0] if cause.args else "")[:60].strip()
            return "protocol", f"answered with something that is not an HTTP status line: {line!r}"
        if isinstance(cause, (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)):
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            expected = cause.expected if cause.expected is not None else 0
            return "reset", f"closed the connection after {got} of {got + expected} bytes"
        if "Content-Length contained multiple unmatching values" in str(cause):
            return "protocol", "sent conflicting Content-Length headers (a broken proxy, or request smuggling)"
    return None


def _last_reason(text: str) -> str:
    """requests nests reasons as 'A(B(C: reason))'; the innermost phrase is the readable part."""
    return text.rsplit(": ", 1)[-1].rstrip(")'\"") if ": " in text else text


_HINTS = {
    "header-timeout": "the server, or a proxy in between, kept the answer open without finishing its headers; "
    "if it is only slow, raise the timeout (--timeout, or Client(timeout=(connect, read)))",
}


class HttpResponse:
    """A response whose body is read through this object, so its exchange is completed when read."""

    def __init__(
        self, response: requests.Response, exchange: Exchange, clock_start: float, secrets: list[str] | None = None
    ) -> None:
        self.raw = response
        self.exchange = exchange
        self._clock_start = clock_start
        self._secrets = secrets or []  # what the request carried, should the body echo it back
        self.retried: tuple[Exchange, ...] = ()  # earlier attempts of the same request (see Client.send)

    @property
    def attempts(self) -> tuple[Exchange, ...]:
        """Every exchange of this request: the attempts that were retried, then this one."""
        return (*self.retried, self.exchange)

    @property
    def status(self) -> int:
        """HTTP status code."""
        return self.raw.status_code

    @property
    def headers(self) -> requests.structures.CaseInsensitiveDict[str]:
        """Response headers."""
        return self.raw.headers

    def iter_bytes(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The body exactly as sent (no Content-Encoding decoding: a blob's digest is over the wire bytes).

        Chunks come as the bytes arrive (at most ``chunk_size``), so a caller can see a trickle.
        """
        raw = self.raw.raw
        chunks = raw.stream(chunk_size, decode_content=False) if raw.chunked else _as_available(raw, chunk_size)
        try:
            for chunk in chunks:
                self.exchange.bytes_received += len(chunk)
                yield chunk
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
            kind, self.exchange.error = _describe(exc, self.raw.url)
            raise TransportError(
                f"the body from {host_of(self.raw.url)} broke off after "
                f"{self.exchange.bytes_received} bytes: {self.exchange.error}",
                exchange=self.exchange,
                kind=kind,
            ) from None
        finally:
            self.finish()

    def read(self, limit: int, what: str) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (hostile servers can send endless data)."""
        body = bytearray()
        for chunk in self.iter_bytes(64 * 1024):
            body += chunk
            if len(body) > limit:
                self.close()
                raise TransportError(
                    f"{what} from {host_of(self.raw.url)} is larger than the {limit} bytes allowed",
                    exchange=self.exchange,
                )
        return bytes(body)

    def preview(self) -> str:
        """Read up to a few kB of an unwanted body (an error page) and keep it on the exchange."""
        try:
            data = self.read(1 << 20, "the error body")
        except TransportError:
            data = b""
        # S3 echoes a forwarded Authorization header in its error body; nothing secret is kept.
        # Scrub before cutting: a secret cut in two would no longer be recognised.
        self.exchange.body_preview = redact_text(scrub(data.decode("utf-8", "replace"), self._secrets))[:PREVIEW_LIMIT]
        return self.exchange.body_preview

    def finish(self) -> None:
        """Stamp the total time once the body is consumed or abandoned."""
        if self.exchange.total_time is None:
            self.exchange.total_time = time.perf_counter() - self._clock_start

    def close(self) -> None:
        """Release the connection (and finish the exchange)."""
        self.finish()
        self.raw.close()

    def abort(self) -> None:
        """Break the connection from another thread, waking a read blocked on it (Ctrl-C, cancel)."""
        connection = getattr(self.raw.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            # shutdown(), unlike close(), wakes a recv() already waiting in another thread.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _as_available(raw: urllib3.BaseHTTPResponse, size: int) -> Iterator[bytes]:
    """What has arrived, up to ``size`` bytes at a time (``stream`` would block until ``size`` bytes came)."""
    while chunk := raw.read1(size, decode_content=False):
        yield chunk


class _OwnRedirects(requests.Session):
    """A session that never looks at ``Location``: even with ``allow_redirects=False`` requests parses it
    (for ``response.next``), and a malformed one would fail the request with a bare ``ValueError``."""

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        return iter(())


class _SharedTlsAdapter(HTTPAdapter):
    """Hands urllib3 one prebuilt SSL context per trust setting (:meth:`TlsSettings.context`) instead of
    the paths it would load into a new context for every connection; and its connections read response
    headers under a deadline (:mod:`.deadline`)."""

    _LOADED = ("ca_certs", "ca_cert_dir", "cert_file", "key_file")  # what the shared context already holds

    def __init__(self, tls: TlsSettings, **kwargs: Any) -> None:
        self.tls = tls
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        with_deadline(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        fresh = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return with_deadline(manager) if fresh else manager

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, typed_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(typed_kwargs)
        if host_params["scheme"] == "https":
            for name in self._LOADED:
                pool_kwargs.pop(name, None)
            try:
                pool_kwargs["ssl_context"] = self.tls.context(verify, tuple(cert) if cert else None)
            except OSError as exc:  # ssl.SSLError too: an unreadable bundle or client key
                raise requests.exceptions.SSLError(f"cannot load the TLS files: {exc}") from None
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # checks the files exist, then sets their paths
        if getattr(conn, "conn_kw", {}).get("ssl_context") is not None:  # an HTTPS pool with a shared context
            for name in self._LOADED:
                setattr(conn, name, None)


class Transport:
    """Sends requests over a pooled session and hands each new :class:`Exchange` to ``record``."""

    def __init__(
        self,
        *,
        timeout: tuple[float, float | None] = DEFAULT_TIMEOUT,
        pool_size: int = 16,
        record: Callable[[Exchange], None] | None = None,
        tls: TlsSettings | None = None,
    ) -> None:
        self.session = _OwnRedirects()
        # Only the headers regkit chose: no ~/.netrc password (it would replace the Bearer token) and
        # no cookie jar (a registry's Set-Cookie would ride along to a CDN on the same host). The
        # proxy variables and CA bundles requests would read from the environment are applied in send().
        self.session.trust_env = False
        no_cookies = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
        self.session.cookies = requests.cookies.RequestsCookieJar(no_cookies)
        self.tls = tls or TlsSettings()
        # Keep-alive pools sized for concurrent layer downloads to one host.
        adapter = _SharedTlsAdapter(self.tls, pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "regkit"
        self.session.headers["Accept-Encoding"] = "identity"
        self.timeout = timeout
        self.record = record or (lambda exchange: None)

    def send(
        self,
        step: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        data: bytes | list[tuple[str, str]] | None = None,
        original_url: str | None = None,
        attempt: int = 1,
        note: str = "",
        verify: bool = True,
    ) -> HttpResponse:
        """Send one request; the body is left unread (streamed) for the caller.

        A ``user:password@`` in a URL from a server (a realm, a redirect) is dropped, never sent as Basic.

        Parameters
        ----------
        step : str
            The pull step the exchange belongs to (``token``, ``manifest``, ``blob``, …).
        method : str
            The HTTP method.
        url : str
            The URL to send to; redirects are not followed.
        headers : dict of str to str, optional
            Request headers, besides the session's ``User-Agent`` and ``Accept-Encoding: identity``.
        params : dict or list of (str, str), optional
            Query parameters added to ``url``.
        data : bytes or list of (str, str), optional
            The body; a list is sent as a form and recorded (redacted) in ``exchange.request_form``.
        original_url : str, optional
            The URL meant before a proxy setting rewrote it; default ``url``.
        attempt : int, default 1
            Which attempt of the request this is, for the record.
        note : str, default ""
            What regkit made of the exchange, for the record.
        verify : bool, default True
            False sends without verifying the server's TLS certificate (an insecure registry).

        Returns
        -------
        HttpResponse
            The response, whatever its status, with its :class:`Exchange` already recorded; reading the body
            through it completes the exchange.

        Raises
        ------
        TransportError
            No answer: the request cannot be built, or DNS, connection, TLS, proxy or a timeout failed;
            ``kind`` says which and the exchange (recorded with its error) is attached.
        InvalidOption
            A CA certificate configured for the host cannot be read.
        """
        url, dropped = without_userinfo(url)
        if dropped:
            note = "; ".join(filter(None, (note, "credentials in the URL were not sent")))
        request = requests.Request(method, url, headers=headers or {}, params=params, data=data)
        try:
            prepared = self.session.prepare_request(request)
        except (requests.exceptions.RequestException, ValueError) as exc:
            # The message may quote the URL or a header value: say what, not how.
            raise TransportError(f"cannot build a request for {redact_url(url)} ({exc.__class__.__name__})") from None
        form = data if isinstance(data, list) else []
        exchange = Exchange.begin(
            step, method, prepared.url or url, dict(prepared.headers), time.time(), original_url, form
        )
        exchange.attempt, exchange.note = attempt, note
        proxies = requests.utils.get_environ_proxies(prepared.url or url)
        exchange.proxy = redact_url(_proxy_for(prepared.url or url, proxies))
        ca_bundle, client_cert = self.tls.verify(urlsplit(prepared.url or url).netloc)
        self.record(exchange)
        start = time.perf_counter()
        connect, read = self.timeout
        # Interim 1xx answers reset no socket timeout: the headers get connect + read seconds in all.
        limit = connect + read if connect is not None and read is not None else None
        budget = header_deadline.set((time.monotonic() + limit, limit) if limit is not None else None)
        try:
            response = self.session.send(
                prepared,
                stream=True,
                allow_redirects=False,
                verify=ca_bundle if verify else False,
                cert=client_cert,
                proxies=proxies,
                timeout=self.timeout,
            )
        except (requests.exceptions.RequestException, ValueError) as exc:
            kind, exchange.error = _describe(exc, prepared.url or url)
            exchange.total_time = time.perf_counter() - start
            hint = self.tls.hint(host_of(prepared.url or url)) if kind == "tls" else _HINTS.get(kind)
            raise TransportError(exchange.error, exchange=exchange, kind=kind, hint=hint) from None
        finally:
            header_deadline.reset(budget)
        exchange.time_to_headers = time.perf_counter() - start
        exchange.status, exchange.reason = response.status_code, response.reason or ""
        exchange.response_headers = _redacted_response_headers(response)
        return HttpResponse(response, exchange, start, secrets_in(prepared.url or url, prepared.headers, form))

    def close(self) -> None:
        """Close pooled connections and remove joined CA bundles."""
        self.session.close()
        self.tls.close()


def _proxy_for(url: str, proxies: dict[str, str]) -> str:
    """The proxy requests will use for ``url`` (from HTTP(S)_PROXY/ALL_PROXY, NO_PROXY applied); '' if none."""
    return proxies.get(urlsplit(url).scheme) or proxies.get("all") or ""


def _redacted_response_headers(response: requests.Response) -> list[tuple[str, str]]:
    # urllib3 keeps repeated headers (several WWW-Authenticate) apart; requests would join them.
    return redact_headers(list(response.raw.headers.items()))
