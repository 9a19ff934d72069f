"""``diagnose``: run the pull flow once, record everything, and explain what failed and how to fix it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._repr import HtmlRepr
from ..errors import RegkitError
from ..http.client import AuthArg, CaCertArg, Client, ClientOptions, as_reference, client_for
from ..http.endpoints import Endpoints
from ..http.exchange import Exchange
from ..http.ratelimit import RateLimit
from ..http.retry import NO_RETRY
from ..http.timeouts import DEFAULT_TIMEOUT
from ..oci import jsonsafe
from ..oci import mediatypes as mt
from ..oci.redact import host_of
from ..oci.reference import Reference, resolve
from ..steps.auth import Token, get_token
from ..steps.blobs import fetch_blob
from ..steps.fetcher import Fetcher
from ..steps.manifest_fetch import get_manifest
from ..steps.redirects import REDIRECTS, redirect_target
from .findings import (
    ENGINE_MIRROR_TIMEOUT,
    ERROR,
    INFO,
    Context,
    Finding,
    both,
    detect,
    library_only,
    private_without_credentials,
    stale_tag,
    upstream_comparison,
)
from .network import HEAD_PROBE

LIBRARY_PROBE = "library/busybox:latest"  # asked of a mirror to see whether it serves official images


@dataclass(frozen=True)
class Diagnosis(HtmlRepr):
    """The findings of one diagnostic run, with every exchange it made.

    Attributes
    ----------
    reference : Reference
        The image tried.
    endpoints : Endpoints
        The route tried (mirror, proxy), or the registry itself.
    findings : tuple of Finding
        What was found, errors first.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    error : RegkitError or None
        The error that ended the run, if one did.
    """

    reference: Reference
    endpoints: Endpoints
    findings: tuple[Finding, ...]
    exchanges: tuple[Exchange, ...]
    error: RegkitError | None

    @property
    def ok(self) -> bool:
        """True when the flow worked and nothing is wrong."""
        return self.error is None and not any(f.severity == ERROR for f in self.findings)

    def __str__(self) -> str:
        route = f" via {self.endpoints.registry}" if self.endpoints.registry else ""
        head = f"diagnosis of {self.reference}{route}: {'OK' if self.ok else 'PROBLEMS FOUND'}"
        return "\n".join([head, *(str(f) for f in self.findings)])


def diagnose(
    ref: Reference | str,
    *,
    endpoints: Endpoints | None = None,
    insecure: bool = False,
    auth: AuthArg = None,
    fetch_config: bool = True,
    check_upstream: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT[1],
    ca_cert: CaCertArg = None,
    engine_timeout: float = ENGINE_MIRROR_TIMEOUT,
    client: Client | None = None,
) -> Diagnosis:
    """Token, manifest and (unless ``fetch_config`` is False) the config blob, then the findings.

    The manifest GET counts as a pull on Docker Hub; ``fetch_config=False`` stops after a HEAD,
    which does not. Nothing is retried: failures are shown as they happen.

    Parameters
    ----------
    ref : Reference or str
        The image to try.
    endpoints : Endpoints, optional
        The mirror, reverse proxy or token proxy to go through; default the registry itself.
    insecure : bool, default False
        Allow plain HTTP and unverified TLS to the registry's hosts.
    auth : Credentials or (str, str), optional
        Username and password; default ``~/.docker/config.json``'s.
    fetch_config : bool, default True
        Fetch the config blob as well (a pull on Docker Hub).
    check_upstream : bool, default True
        Through a mirror, ask the registry itself too: for what the mirror lacks, the tag's digest and age.
    timeout : float, optional
        Seconds each request may take.
    ca_cert : str or os.PathLike or list of them, optional
        CA certificates to trust besides the usual ones.
    engine_timeout : float, default 15.0
        How long the Docker engine waits for a mirror, to say when it would give up on one.
    client : Client, optional
        The client to diagnose through (kept open, its own settings and retry policy kept; only the
        exchanges this diagnosis made are looked at); not together with the client settings above.

    Returns
    -------
    Diagnosis
        The findings, each with its fix and the exchanges that show it, and the error, if any.

    Raises
    ------
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client settings; failures
        of the registry are findings, not errors.
    """
    ref = as_reference(ref)
    options = _options(endpoints, insecure, auth, timeout, ca_cert)
    with _client(client, options) as session:
        return _diagnose(session, ref, fetch_config, check_upstream, engine_timeout)


def _options(
    endpoints: Endpoints | None, insecure: bool, auth: AuthArg, timeout: float | None, ca_cert: CaCertArg
) -> ClientOptions:
    """The client settings given (defaults left out: a ``client=`` without any is no conflict)."""
    options = ClientOptions()
    if endpoints is not None:
        options["endpoints"] = endpoints
    if insecure:
        options["insecure"] = insecure
    if auth is not None:
        options["auth"] = auth
    if timeout != DEFAULT_TIMEOUT[1]:
        options["timeout"] = (DEFAULT_TIMEOUT[0], timeout)
    if ca_cert is not None:
        options["ca_cert"] = ca_cert
    return options


@contextmanager
def _client(client: Client | None, options: ClientOptions) -> Iterator[Client]:
    """The given client, or one made from ``options`` that retries nothing (failures shown as they happen)."""
    if client is not None:
        with client_for(client, options) as given:
            yield given
        return
    settings: ClientOptions = {**options, "retry": NO_RETRY}
    with Client(**settings) as made:
        yield made


def _diagnose(
    client: Client, ref: Reference, fetch_config: bool, check_upstream: bool, engine_timeout: float
) -> Diagnosis:
    """:func:`diagnose` through ``client``: the flow, then the findings from its exchanges."""
    endpoints, insecure, auth = client.endpoints, client.insecure, client.credentials
    tls = getattr(client.transport, "tls", None)  # a MockTransport has none
    ca_cert = list(tls.ca_cert) if tls is not None else None
    before = len(client.transcript)
    error = None
    served: tuple[str, str, Exchange] | None = None
    try:
        token = get_token(ref, client=client)
        head_manifest(client, ref, token)
        if fetch_config:
            served = _digest_and_created(client, ref, token, probe_storage=True)
    except RegkitError as exc:
        error = exc
    exchanges = list(client.transcript)[before:]
    username = auth.username if auth else ""
    context = Context(ref, endpoints, error, engine_timeout, _trusted(client, exchanges), username)
    findings = detect(exchanges, context)
    if check_upstream and endpoints.registry:
        findings += _compare_with_upstream(ref, exchanges, endpoints, insecure, auth, ca_cert)
        if served is not None and ref.tag and not ref.digest:
            findings += _compare_tag(ref, served, insecure, auth, ca_cert)
    if error is not None and not any(f.severity == ERROR for f in findings):
        evidence = (error.exchange,) if error.exchange else ()
        findings.append(Finding("failed", ERROR, error.message, both(error.hint), evidence))
    if error is None and not any(f.severity == ERROR for f in findings):
        what = "token, manifest and config blob" if fetch_config else "token and manifest HEAD"
        findings.append(Finding("ok", INFO, f"the flow works: {what} fetched and verified"))
    return Diagnosis(ref, endpoints, tuple(findings), tuple(exchanges), error)


def _trusted(client: Client, exchanges: list[Exchange]) -> dict[str, tuple[str, ...]]:
    """The CA files trusted for each HTTPS host the flow talked to, besides the base bundle."""
    tls = getattr(client.transport, "tls", None)  # a MockTransport has none
    hosts = {host_of(e.url) for e in exchanges if e.url.startswith("https://")}
    return {name: tuple(str(f) for f in tls.for_host(name).ca_files) for name in hosts} if tls else {}


def rate_limit(
    ref: Reference | str,
    *,
    endpoints: Endpoints | None = None,
    insecure: bool = False,
    auth: AuthArg = None,
    timeout: float | None = DEFAULT_TIMEOUT[1],
    ca_cert: CaCertArg = None,
    client: Client | None = None,
) -> tuple[RateLimit | None, tuple[Exchange, ...]]:
    """The pull budget the registry announces for ``ref``, read with HEAD (which spends no pull).

    Parameters
    ----------
    ref : Reference or str
        The image (Docker Hub's rate limit is per account or address, not per image).
    endpoints : Endpoints, optional
        A mirror or proxy to go through.
    insecure : bool, default False
        Allow plain HTTP and unverified TLS to the registry's hosts.
    auth : Credentials or (str, str), optional
        Username and password; the limit of an account differs from an anonymous one.
    timeout : float, optional
        Seconds each request may take.
    ca_cert : str or os.PathLike or list of them, optional
        CA certificates to trust besides the usual ones.
    client : Client, optional
        The client to ask through (kept open); not together with the client settings above.

    Returns
    -------
    tuple
        The :class:`~regkit.http.ratelimit.RateLimit` (None when the registry announces none) and the exchanges
        made for it.

    Raises
    ------
    RegistryError
        The registry refused the token or the HEAD.
    TransportError
        No HTTP answer.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client settings.
    """
    ref = as_reference(ref)
    with client_for(client, _options(endpoints, insecure, auth, timeout, ca_cert)) as session:
        before = len(session.transcript)
        exchange = head_manifest(session, ref, get_token(ref, client=session))
        return RateLimit.of(exchange), tuple(session.transcript)[before:]


def head_manifest(client: Client, ref: Reference, token: Token) -> Exchange:
    """HEAD the manifest with the token: digest and rate-limit headers without spending a pull."""
    url, meant = client.registry_url(ref, f"manifests/{ref.identifier}")
    accept = {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}
    head = Fetcher(client, ref, token=token).send("manifest", "HEAD", url, meant, accept)
    head.close()
    return head.exchange


def _digest_and_created(
    client: Client, ref: Reference, token: Token, probe_storage: bool = False
) -> tuple[str, str, Exchange]:
    """The image manifest's digest, its config's ``created`` and the manifest exchange (fetches the config).

    With ``probe_storage``, the storage URL the config's GET is redirected to is asked with HEAD too.
    """
    manifest = get_manifest(ref, token=token, client=client)
    with tempfile.TemporaryDirectory(prefix="regkit-diagnose-") as scratch:
        blob = fetch_blob(ref, manifest.config, scratch, token=manifest.token, client=client)
        if probe_storage:
            _storage_head(client, ref, manifest.token, str(manifest.config.digest))
        try:
            config = jsonsafe.loads(Path(blob.path).read_bytes())
        except jsonsafe.JsonError:
            config = {}  # a config that is not JSON is another finding's business
    created = config.get("created") if isinstance(config, dict) else None
    evidence = next(e for e in reversed(manifest.exchanges) if e.status == 200)
    return str(manifest.digest), created if isinstance(created, str) else "", evidence


def _storage_head(client: Client, ref: Reference, token: Token, digest: str) -> None:
    """HEAD the storage URL a blob's GET is redirected to, as tools and caches do (S3 signs the method)."""
    url, meant = client.registry_url(ref, f"blobs/{digest}")
    try:
        response = Fetcher(client, ref, token=token).send("blob", "GET", url, meant, {})
        response.close()
        if response.status in REDIRECTS:
            target = client.endpoints.blob_location(redirect_target(response, f"blob {digest}"), ref)
            client.send("blob", "HEAD", target, note=HEAD_PROBE).close()
    except RegkitError:
        pass  # the GET before worked: whatever this probe meets is recorded, and judged by the detectors


def _status(client: Client, ref: Reference) -> tuple[int | None, Exchange | None]:
    """The manifest HEAD's status and exchange, or None when it could not be asked (closes the client)."""
    try:
        exchange = head_manifest(client, ref, get_token(ref, client=client))
        return exchange.status, exchange
    except RegkitError:
        return None, None  # not reachable from here: nothing to compare
    finally:
        client.close()


def _compare_with_upstream(
    ref: Reference,
    exchanges: list[Exchange],
    endpoints: Endpoints,
    insecure: bool,
    auth: AuthArg,
    ca_cert: CaCertArg,
) -> list[Finding]:
    """When the mirror says 404 for the manifest, ask the registry itself, anonymously and as the user."""
    unknown = next((e for e in exchanges if e.step == "manifest" and e.status == 404), None)
    if unknown is None:
        return []
    anonymous, _ = _status(Client(insecure=insecure, retry=NO_RETRY, docker_config=False, ca_cert=ca_cert), ref)
    status = (
        _status(Client(insecure=insecure, auth=auth, retry=NO_RETRY, ca_cert=ca_cert), ref)[0] if auth else anonymous
    )
    if status == 200 and anonymous not in (200, None):
        return [private_without_credentials(unknown)]
    if status == 200 and not ref.repository.startswith("library/"):
        probe_ref = resolve(f"{ref.registry}/{LIBRARY_PROBE}")
        probed, probe = _status(
            Client(endpoints=endpoints, insecure=insecure, retry=NO_RETRY, ca_cert=ca_cert), probe_ref
        )
        if probed == 200 and probe is not None:
            return [library_only(ref.repository, probe, unknown)]
    finding = upstream_comparison(404, status, unknown)
    return [finding] if finding else []


def _compare_tag(
    ref: Reference, served: tuple[str, str, Exchange], insecure: bool, auth: AuthArg, ca_cert: CaCertArg
) -> list[Finding]:
    """The same tag from the registry itself: another digest means one of the two is stale."""
    with Client(insecure=insecure, auth=auth, retry=NO_RETRY, ca_cert=ca_cert) as direct:
        try:
            upstream = _digest_and_created(direct, ref, get_token(ref, client=direct))
        except RegkitError:
            return []  # the registry is not reachable from here: nothing to compare
    finding = stale_tag(ref, served, upstream)
    return [finding] if finding else []
