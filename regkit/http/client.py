"""The client: endpoints, credentials, token cache and transcript shared by the five steps."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import urllib3

from ..errors import INSECURE, Cancelled, Hint, InvalidOption, TransportError, UsageError
from ..oci.reference import Reference, resolve
from .credentials import AuthArg, Credentials, as_credentials
from .endpoints import Endpoints
from .exchange import Exchange, Transcript
from .insecure import PLAIN_NOTE, SchemeChoice
from .retry import RetryPolicy, parse_retry_after
from .speed import SpeedLimit
from .timeouts import DEFAULT_TIMEOUT, MAX_TIMEOUT
from .tls import TlsSettings
from .tokens import TokenCache
from .transport import HttpResponse, Transport

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Self


class ClientOptions(TypedDict, total=False):
    """What a step function accepts, instead of ``client=``, to build (and afterwards close) its own client."""

    endpoints: Endpoints | None
    insecure: bool
    auth: AuthArg
    timeout: tuple[float, float | None]
    docker_config: bool
    retry: RetryPolicy | None
    transport: Transport | None
    speed_limit: SpeedLimit | None
    ca_cert: CaCertArg


@contextmanager
def client_for(client: Client | None, options: ClientOptions, *, pool_size: int = 16) -> Iterator[Client]:
    """``client`` as given, or a new client built from ``options`` and closed after the block.

    Both at once is a :class:`UsageError`: the options would otherwise be silently ignored.
    """
    if client is not None:
        if options:
            raise UsageError(
                f"pass either client= or client options ({', '.join(sorted(options))}), not both: "
                "a given client keeps its own settings",
                hint="set them when creating the Client",
            )
        yield client
        return
    with Client(**options, pool_size=pool_size) as made:
        yield made


# One CA file or several, trusted on top of the usual ones (see regkit.http.tls).
CaCertArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def as_reference(ref: Reference | str) -> Reference:
    """A :class:`Reference` from a string or a reference."""
    return ref if isinstance(ref, Reference) else resolve(ref)


class Client:
    """Holds what the steps share: where to send requests, credentials, cached tokens, the transcript.

    A context manager: leaving the block closes its connections. Every exchange is recorded, redacted,
    on :attr:`transcript`.

    Parameters
    ----------
    endpoints : Endpoints, optional
        A mirror, reverse proxy or token proxy to go through; default the registry itself.
    insecure : bool, default False
        Allow plain HTTP and unverified TLS to registry hosts (never to a token service or CDN).
    auth : Credentials or (str, str), optional
        Username and password, bound to the first registry they are used for; default those of
        ``~/.docker/config.json`` (unless ``docker_config`` is False).
    timeout : (float, float or None), default (10, 60)
        Connect and read timeouts in seconds.
    pool_size : int, default 16
        Connections kept per host.
    docker_config : bool, default True
        Read credentials from ``~/.docker/config.json`` (and its helpers).
    retry : RetryPolicy, optional
        How often and how long to retry; default :class:`RetryPolicy`'s.
    transport : Transport, optional
        What sends the requests; a :class:`MockTransport` answers them with a function.
    speed_limit : SpeedLimit, optional
        The low-speed rule for blob bodies; default below 1 KiB/s for 60 s fails.
    ca_cert : str or os.PathLike or list of them, optional
        CA certificates to trust besides the system's and ``/etc/docker/certs.d``.

    Raises
    ------
    InvalidOption
        A timeout that is not above 0 and at most the maximum, or a CA file that cannot be read.
    """

    def __init__(
        self,
        *,
        endpoints: Endpoints | None = None,
        insecure: bool = False,
        auth: AuthArg = None,
        timeout: tuple[float, float | None] = DEFAULT_TIMEOUT,
        pool_size: int = 16,
        docker_config: bool = True,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        speed_limit: SpeedLimit | None = None,
        ca_cert: CaCertArg = None,
    ) -> None:
        if not all(t is None or (isinstance(t, (int, float)) and 0 < t <= MAX_TIMEOUT) for t in timeout):
            # inf, 1e20 or nan would fail deep in the socket layer (OverflowError) on the first request
            raise InvalidOption(f"timeout must be (connect, read) seconds above 0 and at most {MAX_TIMEOUT:g}, or None")
        self.endpoints = endpoints or Endpoints(insecure=insecure)
        self.insecure = insecure or self.endpoints.insecure
        self.credentials = as_credentials(auth)
        self.docker_config = docker_config
        self.retry = retry or RetryPolicy()
        self.speed_limit = speed_limit or SpeedLimit()  # applied to blob bodies
        self._config_credentials: dict[str, Credentials | None] = {}
        self._credentials_lock = threading.Lock()
        self.transcript = Transcript()
        extra_ca = [ca_cert] if isinstance(ca_cert, (str, os.PathLike)) else list(ca_cert or [])
        # Explicit and injectable: a MockTransport (regkit.http.mocktransport) answers with a handler function.
        self.transport = transport or Transport(timeout=timeout, pool_size=pool_size, tls=TlsSettings(extra_ca))
        self.transport.record = self.transcript.append
        self.tokens = TokenCache()
        # --insecure-registry covers the registry (or mirror) hosts only, never a token service or CDN.
        self._insecure_hosts: set[str] = set()
        self._registry_hosts: set[str] = set()  # for messages: --insecure-registry applies to these only
        self._schemes = SchemeChoice()
        if self.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._open: weakref.WeakSet[HttpResponse] = weakref.WeakSet()
        self._open_lock = threading.RLock()  # abort() may run in a signal handler on a thread holding it
        self._abort = threading.Event()  # set by abort(): later responses are broken off, waits end
        # Told about every retry wait of a second or more (the CLI prints it); the note is in the transcript too.
        self.on_wait: Callable[[str], None] = lambda message: None

    def credentials_for(self, ref: Reference) -> Credentials | None:
        """The credentials for the reference's registry: explicit ones given for it, else ``~/.docker/config.json``'s.

        Explicit credentials without a registry are bound to the first registry they are used for, so a
        second registry (whatever realm its challenge names) never receives them.

        Parameters
        ----------
        ref : Reference
            The image whose registry is asked about.

        Returns
        -------
        Credentials or None
            None: anonymous.

        Raises
        ------
        ConfigError
            ``~/.docker/config.json`` (or its credential helper) cannot be read.
        """
        with self._credentials_lock:
            if self.credentials is not None and self.credentials.registry is None:
                self.credentials = replace(self.credentials, registry=ref.registry)
        if self.credentials is not None and self.credentials.registry == ref.registry:
            return self.credentials
        if not self.docker_config:
            return None
        if ref.registry not in self._config_credentials:
            from .dockerconfig import credentials_for  # a file read and maybe a helper run: only when asked

            self._config_credentials[ref.registry] = credentials_for(ref.registry)
        return self._config_credentials[ref.registry]

    def endpoint(self, ref: Reference, tail: str = "") -> tuple[str, str]:
        """The URL to send for ``/v2/<tail>``, and the one meant before any rewriting.

        Parameters
        ----------
        ref : Reference
            The image whose registry (or its mirror) is addressed.
        tail : str, default ""
            What follows ``/v2/``.

        Returns
        -------
        tuple of (str, str)
            The URL sent (a mirror's, or plain HTTP for an insecure registry) and the one meant.
        """
        mirrored = self.endpoints.registry is not None and self.endpoints.applies_to(ref)
        base = self.endpoints.registry_base(ref)
        if self.insecure and not mirrored:
            base = f"{self._schemes.scheme(ref.registry)}://{ref.registry}"
        self._registry_hosts.add(urlsplit(base).netloc)
        if self.insecure:
            self._insecure_hosts.add(urlsplit(base).netloc)
        # Behind a mirror the registry itself is meant, which speaks https; without one, what we send.
        sent = f"{base}/v2/{tail}"
        return sent, f"https://{ref.registry}/v2/{tail}" if mirrored else sent

    @property
    def marked_insecure(self) -> set[str]:
        """Hosts a password may reach over plain HTTP: insecure registries, the configured mirror and auth proxy."""
        return self._insecure_hosts | {url for url in (self.endpoints.registry, self.endpoints.auth) if url}

    def registry_url(self, ref: Reference, path: str) -> tuple[str, str]:
        """The URLs (sent, meant) of ``/v2/<repository>/<path>``.

        Parameters
        ----------
        ref : Reference
            The image whose repository is addressed.
        path : str
            What follows the repository, such as ``manifests/latest``.

        Returns
        -------
        tuple of (str, str)
            The URL sent and the one meant, as :meth:`endpoint`.
        """
        return self.endpoint(ref, f"{ref.repository}/{path}")

    def send(self, step: str, method: str, url: str, *, attempt: int = 1, **kwargs: Any) -> HttpResponse:
        """Send a recorded request (see :meth:`Transport.send`), again after transient failures.

        Broken connections, 5xx and 429 are retried with backoff (``Retry-After`` honoured) up to
        the policy's bound; each attempt is its own exchange (the earlier ones on the response's
        ``retried``). The last answer is returned as is, for the caller to turn into an error.

        Parameters
        ----------
        step : str
            The pull step the request belongs to (``token``, ``manifest``, ``blob``…), for the transcript.
        method : str
            The HTTP method.
        url : str
            The URL to send.
        attempt : int, default 1
            The number of the first attempt, counted on in retries.
        **kwargs
            What :meth:`Transport.send` takes: ``headers``, ``original_url``, ``note``, ``stream``…

        Returns
        -------
        HttpResponse
            The last answer, of whatever status.

        Raises
        ------
        TransportError
            No HTTP answer, after the retries the policy allows.
        Cancelled
            :meth:`abort` was called while waiting to retry.
        """
        verify = urlsplit(url).netloc not in self._insecure_hosts
        tries, waited = 1, 0.0
        retried: list[Exchange] = []
        while True:
            try:
                response = self._attempt(step, method, url, attempt, verify, kwargs)
            except TransportError as exc:
                plain = self._plain_instead(url, exc, kwargs)
                if plain is not None:
                    url = plain
                    continue
                decided = self._after_failure(exc, url, tries, waited)
                if decided is None or exc.exchange is None:
                    raise
                wait, reason = decided
                exc.exchange.note = f"{exc.exchange.note} retrying in {wait:.1f} s".strip()
                retried.append(exc.exchange)
            else:
                response.retried = tuple(retried)
                decided = self._after_answer(response, url, tries, waited)
                if decided is None:
                    return response
                wait, reason = decided
                retried.append(response.exchange)
            if wait >= 1:  # a wait worth mentioning: nobody should wonder why nothing happens
                self.on_wait(f"{reason}: waiting {wait:.0f} s before attempt {attempt + 1} of {step} {method}")
            waited += wait
            if self._abort.wait(wait):  # an abort ends the wait at once
                raise Cancelled(f"{method} {url} was not retried: the pull was cancelled")
            tries += 1
            attempt += 1

    def _attempt(
        self, step: str, method: str, url: str, attempt: int, verify: bool, kwargs: dict[str, Any]
    ) -> HttpResponse:
        """One request, tracked so that :meth:`abort` can break it."""
        response = self.transport.send(step, method, url, attempt=attempt, verify=verify, **kwargs)
        with self._open_lock:
            self._open.add(response)
        if self.aborting:  # abort() ran while this request was on its way
            response.abort()
        return response

    def _plain_instead(self, url: str, exc: TransportError, kwargs: dict[str, Any]) -> str | None:
        """The plain-HTTP URL to try for an insecure registry whose HTTPS failed (``kwargs`` noted), else None."""
        plain = self._schemes.fallback(url, exc.kind)
        if plain is None or exc.exchange is None:
            return None
        # No HTTP request went out over the failed handshake: the plain one carries its story.
        self.transcript.discard(exc.exchange)
        if kwargs.get("original_url") in (None, url):
            kwargs["original_url"] = plain
        said = f"{PLAIN_NOTE} ({exc.exchange.error})"
        kwargs["note"] = "; ".join(filter(None, (kwargs.get("note"), said)))
        return plain

    def _after_failure(self, exc: TransportError, url: str, tries: int, waited: float) -> tuple[float, str] | None:
        """The wait before trying again after no answer, and why; None: give up (the hint says what to try)."""
        if exc.kind in ("tls", "http-to-https") and urlsplit(url).netloc in self._registry_hosts:
            plain = Hint("use " if exc.kind == "http-to-https" else "or ", INSECURE, " for this registry")
            exc.hint = exc.hint + "; " + plain if exc.hint else plain
        wait = self.retry.delay(tries, waited=waited) if exc.transient and not self.aborting else None
        return None if wait is None else (wait, f"{urlsplit(url).netloc} broke the connection")

    def _after_answer(self, response: HttpResponse, url: str, tries: int, waited: float) -> tuple[float, str] | None:
        """The wait before asking again after a 5xx or 429, and why (noted on the exchange); None: keep it."""
        if not self.retry.retryable_status(response.status) or self.aborting:
            return None
        asked = parse_retry_after(response.headers.get("Retry-After"))
        wait = self.retry.delay(tries, asked, waited)
        if wait is None:
            if asked is not None and tries < self.retry.attempts:
                response.exchange.note = (
                    f"{response.status}: the server asks to wait {asked:.0f} s (Retry-After), more than "
                    f"the {max(self.retry.max_wait - waited, 0):.0f} s left of the retry budget: not retried"
                )
            return None
        response.preview()  # keep the error page on the exchange: diagnosis reads it
        response.exchange.note = f"{response.status}: retrying in {wait:.1f} s"
        if asked is not None:
            response.exchange.note += " (Retry-After)"
        reason = f"{response.status} {response.exchange.reason} from {urlsplit(url).netloc}".replace("  ", " ")
        return wait, reason

    @property
    def aborting(self) -> bool:
        """True between :meth:`abort` and :meth:`clear_abort`."""
        return self._abort.is_set()

    def abort(self) -> None:
        """Break every response being read, and every later one, until :meth:`clear_abort`."""
        self._abort.set()
        with self._open_lock:
            responses = list(self._open)
        for response in responses:
            response.abort()

    def clear_abort(self) -> None:
        """Let the client send again after an abort (the aborted work has ended)."""
        self._abort.clear()

    def close(self) -> None:
        """Close the connection pool."""
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        user = self.credentials.username if self.credentials else None
        return (
            f"Client(endpoints={self.endpoints!r}, insecure={self.insecure}, user={user!r}, "
            f"exchanges={len(self.transcript)})"
        )
