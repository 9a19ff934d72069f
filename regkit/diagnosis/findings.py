"""What went wrong in a pull, read from its exchanges alone (pure, no I/O).

Each detector looks at the recorded (redacted) exchanges, the endpoints that were configured and
the error the flow ended with, and returns findings: what happened, the evidence, and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..errors import DigestMismatch, Hint, SizeMismatch, TransportError
from ..http.exchange import Exchange
from ..http.httperrors import registry_errors, who_answered
from ..http.ratelimit import RateLimit
from ..oci import mediatypes as mt
from ..oci.challenge import find_challenge
from ..oci.reference import Reference
from ..steps.auth import challenges_of
from .base import ENGINE_MIRROR_TIMEOUT, ERROR, INFO, WARNING, Context, Detector, Finding, host
from .denials import (
    anonymous_denied,
    basic_only_registry,
    credentials_expired,
    denied_at_token_service,
    identity_token,
    scope_rejected,
)
from .network import (
    HEAD_PROBE,
    S3_AUTH_REFUSALS,
    claimed,
    proxy_auth,
    signed_url_expired,
    storage_authorization,
    storage_denied,
    storage_error,
    storage_head,
    storage_hop,
)

__all__ = ["ENGINE_MIRROR_TIMEOUT", "ERROR", "INFO", "WARNING", "Context", "Finding", "detect"]


def both(hint: Hint | None) -> str:
    """A hint as a finding's fix: a diagnosis is read in Python and on the command line, so both spellings."""
    return hint.said("html") if hint else ""


def _failed_at(context: Context, step: str) -> Exchange | None:
    error = context.error
    if error is not None and error.exchange is not None and error.exchange.step == step:
        return error.exchange
    return None


def realm(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The Bearer realm: unreachable, not behind the configured proxy, or a challenge missing parts."""
    for exchange in exchanges:
        if exchange.status != 401:
            continue
        bearer = find_challenge(challenges_of(exchange), "bearer")
        if bearer is None:
            continue
        missing = [name for name in ("service", "scope") if not bearer.params.get(name)]
        if missing and exchange.step == "token":
            yield Finding(
                "challenge-incomplete",
                WARNING,
                f"the Bearer challenge has no {' and no '.join(missing)} (a proxy may have rewritten it badly)",
                "a proxy rewriting WWW-Authenticate must keep service and scope",
                (exchange,),
            )
        failed = _failed_at(context, "token")
        if failed is not None and failed.error:
            yield Finding(
                "realm-unreachable",
                ERROR,
                f"the registry sends clients to the token service {host(bearer.realm or '')}, which cannot be reached",
                "set DOCKER_AUTH_REVERSE_PROXY to a proxy location for the token service "
                "(e.g. http://<proxy>/docker-auth/token), or make the proxy rewrite the realm",
                (exchange, *([failed] if failed else [])),
            )
        elif (
            context.endpoints.registry
            and not context.endpoints.auth
            and host(bearer.realm or "") != host(context.endpoints.registry)
        ):
            yield Finding(
                "realm-not-proxied",
                INFO,
                f"registry requests go through {host(context.endpoints.registry)} but tokens come from "
                f"{host(bearer.realm or '')} directly",
                "fine if that host is reachable; otherwise set DOCKER_AUTH_REVERSE_PROXY",
                (exchange,),
            )
        return


def blob_redirect(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """Where blob redirects point: an unreachable CDN, or one that bypasses the configured proxy."""
    hops = [e for e in exchanges if e.step == "blob" and "redirect" in e.note]
    for hop in hops:
        if hop.error and not claimed(context):
            yield Finding(
                "cdn-unreachable",
                ERROR,
                f"blob downloads are redirected to {host(hop.original_url)}, which cannot be reached ({hop.error})",
                "set DOCKER_BLOB_REVERSE_PROXY to a proxy location for the CDN (e.g. http://<proxy>/docker-blob), "
                "or make the proxy rewrite the Location of blob redirects",
                (hop,),
            )
            return
    if hops and context.endpoints.registry and not context.endpoints.blob:
        first = hops[0]
        if host(first.url) != host(context.endpoints.registry):
            yield Finding(
                "cdn-not-proxied",
                INFO,
                f"registry requests go through {host(context.endpoints.registry)} but blobs come from "
                f"{host(first.url)} directly",
                "fine if that host is reachable; otherwise set DOCKER_BLOB_REVERSE_PROXY",
                (first,),
            )


def credentials_elsewhere(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The user's password went to a token service on another host than the registry."""
    sent = [e for e in exchanges if e.credentials_elsewhere]
    for target in dict.fromkeys(e.credentials_to for e in sent):
        evidence = tuple(e for e in sent if e.credentials_to == target)
        yield Finding(
            "credentials-elsewhere",
            INFO,
            f"your credentials were sent to {target}, the token service the registry's challenge names, "
            "not to the registry itself (Docker does the same)",
            f"make sure you trust {target} with your password; an https realm keeps it off the wire",
            evidence,
        )


def missing_library(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A one-component repository that probably needs ``library/`` (via a host-named mirror path)."""
    repository = context.reference.repository
    if "/" in repository:
        return
    denied = [e for e in exchanges if e.status in (401, 403, 404) and f"/v2/{repository}/" in e.url]
    if denied:
        yield Finding(
            "missing-library-prefix",
            ERROR,
            f"the repository {repository!r} has one path component; on Docker Hub official images live under "
            f"library/ (the registry answered {denied[-1].status})",
            f"pull library/{repository} (the proxy or the reference lost the library/ prefix)",
            (denied[-1],),
        )


def _rate_limit_kind(exchange: Exchange) -> str:
    codes = " ".join(registry_errors(exchange.body_preview)).upper()
    if "TOOMANYREQUESTS" in codes:
        return "pull-quota"
    if exchange.body_preview.lstrip().startswith("<"):
        return "proxy-429"
    return "registry-429"


def rate_limits(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The three kinds of 429, and the announced pull budget."""
    limited = [e for e in exchanges if e.status == 429]
    if limited:
        last = limited[-1]
        kind = _rate_limit_kind(last)
        messages = {
            "pull-quota": ("the pull quota is used up (TOOMANYREQUESTS)", "wait for the window to pass, or log in"),
            "proxy-429": (
                f"a proxy's own 429 page ({who_answered(last)}), not the registry's",
                "the proxy limits request rates; ask its operator or lower --jobs",
            ),
            "registry-429": ("the registry's overall rate limit (not the pull quota)", "slow down and retry later"),
        }
        message, fix = messages[kind]
        retry = last.header("retry-after")
        wait = f"; Retry-After: {retry}" if retry else ""
        yield Finding(f"rate-limited-{kind}", ERROR, message + wait, fix, tuple(limited))
    announced = [(e, limit) for e in exchanges if (limit := RateLimit.of(e)) is not None]
    if announced:
        exchange, limit = announced[-1]
        yield Finding("rate-limit", INFO, f"pull budget: {limit}", "", (exchange,))


def html_not_json(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """HTML or XML where a registry speaks JSON: some other box answered."""
    for exchange in exchanges:
        if exchange.step not in ("token", "manifest") and not (exchange.status or 0) >= 400:
            continue
        ctype = (exchange.content_type or "").lower()
        if "html" in ctype or "xml" in ctype or exchange.body_preview.lstrip().startswith("<"):
            if any(text in exchange.body_preview for text in S3_AUTH_REFUSALS) or storage_error(exchange):
                continue  # the storage host's own XML: reported by the network detectors
            if HEAD_PROBE in exchange.note:
                continue  # diagnose's HEAD of a storage URL: storage-head-forbidden
            yield Finding(
                "html-instead-of-json",
                ERROR,
                f"{exchange.method} {exchange.url} answered {exchange.status} with {ctype or 'an HTML/XML body'} "
                f"from {who_answered(exchange)}: not the registry (clients show this as \"invalid character '<'\")",
                "check the proxy's routing for this path, and the proxy's own error pages",
                (exchange,),
            )
            return


def transport(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """TLS versus plain HTTP, certificates, and other connection failures."""
    error = context.error
    if not isinstance(error, TransportError) or claimed(context):
        return
    evidence = (error.exchange,) if error.exchange else ()
    if error.kind == "http-to-https":
        yield Finding(
            "plain-http-registry",
            ERROR,
            'the server answered plain HTTP to an HTTPS request ("server gave HTTP response to HTTPS client")',
            "use --insecure-registry (or an http:// mirror URL) for a registry without TLS",
            evidence,
        )
    elif error.kind == "tls":
        yield Finding(
            "tls-error",
            ERROR,
            f"TLS failed: {error.message}",
            both(error.hint) or "trust the server's CA with --ca-cert FILE or certs.d/<host>/ca.crt",
            evidence,
        )
    elif error.exchange is None or error.exchange.step != "blob":  # blobs: blob_redirect, blob_integrity
        yield Finding("connection-failed", ERROR, error.message, both(error.hint), evidence)


def blob_integrity(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """Truncated, corrupted or re-encoded blobs."""
    for exchange in exchanges:
        encoding = exchange.header("content-encoding")
        if exchange.step == "blob" and encoding and encoding.lower() != "identity":
            yield Finding(
                "blob-content-encoding",
                ERROR,
                f"{host(exchange.url)} sent a blob with Content-Encoding: {encoding}; digests are over the "
                "stored bytes, so a re-encoded blob never verifies",
                "turn off compression for blob paths in the proxy (nginx: gzip off; no gzip_proxied for these)",
                (exchange,),
            )
            return
    error = context.error
    if isinstance(error, TransportError) and error.exchange is not None and error.exchange.step == "blob":
        exchange = error.exchange
        if "redirect" not in exchange.note and exchange.status in (200, 206):
            yield Finding(
                "blob-truncated",
                ERROR,
                f"the blob body from {host(exchange.url)} ended after {exchange.bytes_received} of "
                f"{exchange.content_length} bytes, also when resumed",
                "a proxy cuts large bodies (nginx proxy_max_temp_file_size, a full disk, an idle timeout)",
                (exchange,),
            )
    if isinstance(error, SizeMismatch):
        yield Finding(
            "blob-truncated",
            ERROR,
            error.message,
            "a proxy cut the body (nginx proxy_max_temp_file_size, a full disk, an idle timeout)",
            (error.exchange,) if error.exchange else (),
        )
    elif isinstance(error, DigestMismatch) and error.exchange is not None and error.exchange.step == "blob":
        yield Finding(
            "blob-corrupt",
            ERROR,
            error.message,
            "the bytes changed on the way or in a cache; purge the proxy's cache for this blob",
            (error.exchange,),
        )


def manifest_integrity(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A manifest of another type than asked for, or whose digest header does not match."""
    error = context.error
    if isinstance(error, DigestMismatch) and error.exchange is not None and error.exchange.step == "manifest":
        yield Finding(
            "manifest-digest-mismatch",
            ERROR,
            error.message,
            "a cache in between ignores Accept/Vary and serves another variant; make it key on Accept",
            (error.exchange,),
        )
    for exchange in exchanges:
        ctype = (exchange.content_type or "").split(";")[0].strip()
        if exchange.step == "manifest" and exchange.status == 200 and ctype and ctype not in mt.ACCEPT_MANIFESTS:
            yield Finding(
                "manifest-media-type",
                WARNING if ctype == "application/json" else ERROR,
                f"the manifest came as {ctype}, which is none of the types asked for in Accept",
                "a cache or proxy rewrote Content-Type or ignored Accept",
                (exchange,),
            )
            return


def manifest_unknown(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """MANIFEST_UNKNOWN or NAME_UNKNOWN: the tag or repository does not exist (as far as this server knows)."""
    for exchange in exchanges:
        codes = " ".join(registry_errors(exchange.body_preview))
        if exchange.status == 404 and ("MANIFEST_UNKNOWN" in codes or "NAME_UNKNOWN" in codes):
            yield Finding(
                "manifest-unknown",
                ERROR,
                f"{host(exchange.url)} does not know {context.reference.repository}:{context.reference.identifier} "
                f"({codes})",
                "check the name and tag for typos",
                (exchange,),
            )
            return


def upstream_comparison(mirror_status: int | None, upstream_status: int | None, evidence: Exchange) -> Finding | None:
    """Tell "missing upstream" from "broken proxy" when the mirror says unknown and the upstream was asked."""
    if mirror_status != 404 or upstream_status is None:
        return None
    if upstream_status == 404:
        return Finding(
            "missing-upstream",
            ERROR,
            "the upstream registry does not have it either: the name or tag is wrong, or it was deleted",
            "check the reference",
            (evidence,),
        )
    return Finding(
        "broken-proxy",
        ERROR,
        f"the upstream answers {upstream_status} for the same manifest, but the proxy says 404: the proxy is broken "
        "(wrong path rewriting, a stale negative cache, or a missing library/ prefix)",
        "compare the proxy's upstream URL with the registry's, and purge its cache",
        (evidence,),
    )


def _mirrored(context: Context) -> str | None:
    """The mirror's ``host:port`` when a Docker Hub name went to a mirror (what registry-mirrors covers)."""
    registry = context.endpoints.registry
    return host(registry) if registry and context.reference.is_docker_hub else None


def mirror_path(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A mirror URL with a path: regkit takes it, the Docker engine's registry-mirrors do not."""
    registry = context.endpoints.registry
    if _mirrored(context) and registry and urlsplit(registry).path not in ("", "/"):
        yield Finding(
            "mirror-url-has-path",
            WARNING,
            f"the mirror {registry} has a path: the Docker engine refuses it in registry-mirrors "
            '("invalid mirror: path, query, or fragment at end of the URI"; newer engines differ), so only '
            "clients told about the path (and about the realm and blob Location it does not rewrite) can use it",
            "serve the registry API at /v2/ on the proxy's own host and rewrite the realm and blob Location "
            "(regkit proxy-config nginx writes such a proxy), or run a pull-through cache",
            tuple(exchanges[:1]),
        )


def mirror_fallback(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A failing mirror for a Docker Hub name: the engine would hide the failure by falling back."""
    mirror = _mirrored(context)
    if mirror is None:
        return
    # Like the engine: a failure before the manifest (at the mirror or its token service) moves on; one
    # while downloading layers does not. A HEAD that is refused raises nothing, so its status counts too.
    error = context.error
    if error is not None and (error.exchange is None or error.exchange.step != "blob"):
        what, evidence = error.message, error.exchange
    else:
        refused = [e for e in exchanges if e.step == "manifest" and host(e.url) == mirror and (e.status or 0) >= 400]
        if not refused:
            return
        what, evidence = f"{refused[-1].method} manifest answered {refused[-1].status}", refused[-1]
    yield Finding(
        "mirror-silent-fallback",
        WARNING,
        f"the mirror {mirror} failed ({what}); the Docker engine does not report this: for Docker Hub "
        "names it silently tries the next mirror and then registry-1.docker.io, so docker pull either works "
        "from Docker Hub (bypassing the mirror, spending the pull quota) or fails with Docker Hub's error",
        "fix the mirror (see the other findings); regkit pull --mirror-only shows the mirror's own error; "
        "dockerd --debug logs each endpoint it tries",
        (evidence,) if evidence else (),
    )


def mirror_slow(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A mirror that answers, but after longer than the engine waits for it."""
    mirror = _mirrored(context)
    if mirror is None:
        return
    at_mirror = [e for e in exchanges if host(e.url) == mirror]
    slow = [e for e in at_mirror if (e.time_to_headers or 0) > context.engine_timeout]
    timed_out = [e for e in at_mirror if e.error and "timed out" in e.error]
    if slow or timed_out:
        worst = max(slow, key=lambda e: e.time_to_headers or 0) if slow else timed_out[0]
        took = f"answered after {worst.time_to_headers:.1f} s" if slow else "did not answer in time"
        yield Finding(
            "mirror-slow",
            WARNING,
            f"the mirror {mirror} is reachable but slow: {worst.method} {urlsplit(worst.url).path} {took}; the "
            f"Docker engine waits {context.engine_timeout:g} s for a mirror, then falls back to the next one or "
            "to Docker Hub without a word",
            "find what slows the mirror (its upstream link, disk, a cold cache); until then list a faster mirror first",
            (worst,),
        )


def stale_tag(ref: Reference, mirror: tuple[str, str, Exchange], upstream: tuple[str, str, Exchange]) -> Finding | None:
    """The mirror's and the registry's (digest, config ``created``, evidence) for the same tag."""
    if mirror[0] == upstream[0]:
        return None
    if mirror[1] and upstream[1] and mirror[1] != upstream[1]:
        older = "the mirror's copy is older" if mirror[1] < upstream[1] else "the registry's copy is older"
    else:
        older = "the configs do not say which is older"
    return Finding(
        "mirror-stale-tag",
        ERROR,
        f"the mirror serves {ref.repository}:{ref.tag} as {mirror[0]} (created {mirror[1] or 'unknown'}), "
        f"the registry as {upstream[0]} (created {upstream[1] or 'unknown'}): {older}",
        "purge or re-sync the mirror's copy of this tag (a pull-through cache keeps serving its copy when it "
        "cannot reach upstream); pull by digest to get exactly one image",
        (mirror[2], upstream[2]),
    )


def private_without_credentials(evidence: Exchange) -> Finding:
    """The mirror says unknown; the registry has it for the user's credentials but not anonymously."""
    return Finding(
        "pull-through-without-credentials",
        ERROR,
        "the registry serves this private image for your credentials but not anonymously, and the mirror says "
        "it does not exist: a pull-through cache without upstream credentials (clients' credentials never "
        "reach the upstream through it)",
        "give the cache upstream credentials (docker-registry: proxy.username and proxy.password; every client "
        "of the cache then gets that account's access), or pull private images from the registry directly",
        (evidence,),
    )


def library_only(repository: str, probe: Exchange, evidence: Exchange) -> Finding:
    """The mirror says unknown for a public name outside library/, and answers for a library/ one."""
    return Finding(
        "mirror-library-only",
        ERROR,
        f"the mirror answers for library/ names ({urlsplit(probe.url).path} -> {probe.status}) but not for "
        f"{repository}, which the registry serves publicly: it mirrors official images only",
        "pull names outside library/ from the registry itself (the engine falls back there silently), or "
        "use a mirror or pull-through cache that covers all of Docker Hub",
        (evidence, probe),
    )


DETECTORS: tuple[Detector, ...] = (
    realm,
    blob_redirect,
    storage_authorization,
    proxy_auth,
    storage_hop,
    storage_denied,
    signed_url_expired,
    storage_head,
    anonymous_denied,
    denied_at_token_service,
    scope_rejected,
    credentials_expired,
    identity_token,
    basic_only_registry,
    credentials_elsewhere,
    missing_library,
    rate_limits,
    html_not_json,
    transport,
    blob_integrity,
    manifest_integrity,
    manifest_unknown,
    mirror_path,
    mirror_fallback,
    mirror_slow,
)


def detect(exchanges: list[Exchange], context: Context) -> list[Finding]:
    """Every finding of every detector, errors first."""
    findings = [finding for detector in DETECTORS for finding in detector(exchanges, context)]
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(findings, key=lambda f: order[f.severity])
