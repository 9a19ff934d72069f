"""``diagnose``: run the pull flow once, record everything, and explain what failed and how to fix it."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from .._repr import HtmlRepr
from ..errors import RegkitError
from ..http.client import AuthArg, CaCertArg, Client, as_reference
from ..http.endpoints import Endpoints
from ..http.exchange import Exchange
from ..http.ratelimit import RateLimit
from ..http.retry import NO_RETRY
from ..http.transport import DEFAULT_TIMEOUT
from ..oci import mediatypes as mt
from ..oci.reference import Reference
from ..steps.auth import Token, get_token, send_authorized
from ..steps.blobs import fetch_blob
from ..steps.manifest_fetch import get_manifest
from .findings import ERROR, INFO, Context, Finding, detect, upstream_comparison


@dataclass(frozen=True)
class Diagnosis(HtmlRepr):
    """The findings of one diagnostic run, with every exchange it made."""

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
) -> Diagnosis:
    """Token, manifest and (unless ``fetch_config`` is False) the config blob, then the findings.

    The manifest GET counts as a pull on Docker Hub; ``fetch_config=False`` stops after a HEAD,
    which does not. Nothing is retried: failures are shown as they happen.
    """
    ref = as_reference(ref)
    endpoints = endpoints or Endpoints(insecure=insecure)
    client = Client(
        endpoints=endpoints,
        insecure=insecure,
        auth=auth,
        retry=NO_RETRY,
        timeout=(DEFAULT_TIMEOUT[0], timeout),
        ca_cert=ca_cert,
    )
    error = None
    try:
        token = get_token(ref, client=client)
        head_manifest(client, ref, token)
        if fetch_config:
            manifest = get_manifest(ref, token=token, client=client)
            with tempfile.TemporaryDirectory(prefix="regkit-diagnose-") as scratch:
                fetch_blob(ref, manifest.config, scratch, token=manifest.token, client=client)
    except RegkitError as exc:
        error = exc
    exchanges = list(client.transcript)
    findings = detect(exchanges, Context(ref, endpoints, error))
    if check_upstream and endpoints.registry:
        findings += _compare_with_upstream(ref, exchanges, insecure, auth, ca_cert)
    if error is not None and not any(f.severity == ERROR for f in findings):
        evidence = (error.exchange,) if error.exchange else ()
        findings.append(Finding("failed", ERROR, str(error), error.hint or "", evidence))
    if error is None and not any(f.severity == ERROR for f in findings):
        what = "token, manifest and config blob" if fetch_config else "token and manifest HEAD"
        findings.append(Finding("ok", INFO, f"the flow works: {what} fetched and verified"))
    client.close()
    return Diagnosis(ref, endpoints, tuple(findings), tuple(exchanges), error)


def rate_limit(
    ref: Reference | str,
    *,
    endpoints: Endpoints | None = None,
    insecure: bool = False,
    auth: AuthArg = None,
    timeout: float | None = DEFAULT_TIMEOUT[1],
    ca_cert: CaCertArg = None,
) -> tuple[RateLimit | None, tuple[Exchange, ...]]:
    """The pull budget the registry announces for ``ref``, read with HEAD (which spends no pull)."""
    ref = as_reference(ref)
    endpoints = endpoints or Endpoints(insecure=insecure)
    timeouts = (DEFAULT_TIMEOUT[0], timeout)
    with Client(endpoints=endpoints, insecure=insecure, auth=auth, timeout=timeouts, ca_cert=ca_cert) as client:
        exchange = head_manifest(client, ref, get_token(ref, client=client))
        return RateLimit.of(exchange), tuple(client.transcript)


def head_manifest(client: Client, ref: Reference, token: Token) -> Exchange:
    """HEAD the manifest with the token: digest and rate-limit headers without spending a pull."""
    url, meant = client.registry_url(ref, f"manifests/{ref.identifier}")
    head, _ = send_authorized(
        client, "manifest", ref, token, "HEAD", url, meant, {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}, []
    )
    head.close()
    return head.exchange


def _compare_with_upstream(
    ref: Reference, exchanges: list[Exchange], insecure: bool, auth: AuthArg, ca_cert: CaCertArg
) -> list[Finding]:
    """When the mirror says 404 for the manifest, ask the registry itself."""
    unknown = next((e for e in exchanges if e.step == "manifest" and e.status == 404), None)
    if unknown is None:
        return []
    direct = Client(insecure=insecure, auth=auth, retry=NO_RETRY, ca_cert=ca_cert)
    try:
        status: int | None = head_manifest(direct, ref, get_token(ref, client=direct)).status
    except RegkitError:
        status = None  # the upstream is not reachable from here: nothing to compare
    finally:
        direct.close()
    finding = upstream_comparison(404, status, unknown)
    return [finding] if finding else []
