"""Between the client and the storage host: proxies that want credentials, intercept TLS, block the
storage host or add ``Authorization`` to it; a policy that denies it; signed URLs that expired (clock
skew, a slow start) or that refuse ``HEAD`` (pure, no I/O).

The registry hop working while the storage hop fails is the pattern behind most pull failures on
company networks (moby#36820, docker/for-win#3391, docker/hub-feedback#1318).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from ..errors import TransportError
from ..http.exchange import Exchange
from .base import ERROR, WARNING, Context, Finding, host

# What S3 (and the storage hosts that copy it) answer with when the signed URL is fine but a policy is not.
_XML_CODE = re.compile(r"<Code>\s*([A-Za-z]+)\s*</Code>")
_XML_MESSAGE = re.compile(r"<Message>\s*([^<]{1,200})</Message>")
S3_AUTH_REFUSALS = ("Only one auth mechanism allowed", "Missing x-amz-content-sha256")
_EXPIRED = ("expired", "Expired", "not valid in the specified time frame")
# The note on diagnose's own HEAD of a storage URL (the runner sends it after the GET worked).
HEAD_PROBE = "probe: HEAD on the URL signed for GET, as tools and caches send"
CLOCK_TOLERANCE = 60  # seconds of clock difference that are noise, not skew


def storage_hop_failure(context: Context) -> tuple[str, Exchange] | None:
    """``(kind, exchange)`` when the flow ended on a blob redirect hop with a TLS or proxy refusal."""
    error = context.error
    if not isinstance(error, TransportError) or error.exchange is None or error.kind not in ("tls", "proxy"):
        return None
    hop = error.exchange
    return (error.kind, hop) if hop.step == "blob" and "redirect" in hop.note else None


def proxy_refused(context: Context, status: str) -> Exchange | None:
    """The exchange whose CONNECT the proxy answered with ``status`` (e.g. ``407``), if the flow ended there."""
    error = context.error
    if isinstance(error, TransportError) and error.kind == "proxy" and f": {status}" in error.message:
        return error.exchange
    return None


def claimed(context: Context) -> bool:
    """Whether the flow's error is one the detectors here explain (the generic ones then stay quiet)."""
    if proxy_refused(context, "407") is not None:
        return True
    failure = storage_hop_failure(context)
    return failure is not None and (failure[0] == "tls" or proxy_refused(context, "403") is failure[1])


def proxy_auth(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A forward proxy answering 407: it wants credentials of its own, which are not the registry's."""
    refused = next((e for e in exchanges if e.status == 407), None) or proxy_refused(context, "407")
    if refused is None:
        return
    proxy = refused.proxy or "the proxy"
    challenge = refused.header("proxy-authenticate")
    sent = "<redacted" in refused.proxy  # the proxy URL carried user:password (shown redacted)
    told = "it refused the user and password in the proxy URL" if sent else "the proxy URL carries none"
    yield Finding(
        "proxy-auth-required",
        ERROR,
        f"the forward proxy {proxy} wants its own credentials (407 Proxy Authentication Required"
        + (f", {challenge}" if challenge else "")
        + f") for {host(refused.url)}: {told}",
        "put them in the proxy URL: HTTPS_PROXY=http://USER:PASSWORD@proxy:port (and HTTP_PROXY; "
        "percent-encode @ : / in the password); the Docker daemon reads its own proxy settings "
        '(systemd drop-in or daemon.json "proxies"), not your shell\'s',
        (refused,),
    )


def _verified_elsewhere(exchanges: list[Exchange], storage: str) -> list[Exchange]:
    """HTTPS exchanges that got an answer from hosts other than ``storage``: TLS worked there."""
    return [e for e in exchanges if e.url.startswith("https://") and e.status is not None and host(e.url) != storage]


def storage_hop(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The registry answered but the storage host failed TLS, or the proxy refused to reach it."""
    failure = storage_hop_failure(context)
    if failure is None:
        return
    kind, hop = failure
    storage = host(hop.url)
    verified = _verified_elsewhere(exchanges, storage)
    via = f" through the proxy {hop.proxy}" if hop.proxy else ""
    if kind == "tls":
        registry = host(verified[-1].url) if verified else ""
        # What the registry's host is trusted with beyond the storage host: the intercepting proxy's CA.
        trusted = [f for f in context.trusted.get(registry, ()) if f not in context.trusted.get(storage, ())]
        ca = f"the CA you trust for {registry} ({', '.join(trusted)})" if trusted else "your proxy's CA (ask IT for it)"
        pattern = (
            f"x509 only on the storage hop: {registry} verified, but the blob storage host {storage} did not"
            if verified
            else f"the blob storage host {storage} failed TLS"
        )
        yield Finding(
            "cdn-certificate-untrusted",
            ERROR,
            f"{pattern} ({hop.error}){via}; behind a TLS-intercepting proxy, its CA is trusted for the registry "
            "only, and it re-signs the storage host too",
            f"trust {ca} for {storage} too: copy it to certs.d/{storage}/ca.crt (/etc/docker/certs.d for the "
            "Docker engine, ~/.docker/certs.d for regkit), or add it to the system store",
            (hop, *verified[-1:]),
        )
    elif kind == "proxy" and proxy_refused(context, "403") is hop:
        allowed = f" while it let {host(verified[-1].url)} through" if verified else ""
        yield Finding(
            "storage-host-blocked",
            ERROR,
            f"the proxy {hop.proxy or ''} refused to connect to the blob storage host {storage} (403){allowed}: "
            "the registry redirects every layer download there",
            f"ask the proxy's operator to allow {storage} (the registry's storage or CDN host, not the registry), "
            "or set DOCKER_BLOB_REVERSE_PROXY to a proxy location that may reach it",
            (hop, *verified[-1:]),
        )


def storage_authorization(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The storage host refused a request because an Authorization header rode along its signed URL."""
    for exchange in exchanges:
        refusal = next((text for text in S3_AUTH_REFUSALS if text in exchange.body_preview), None)
        if refusal is None:
            continue
        sent = any(name.lower() == "authorization" for name, _ in exchange.request_headers)
        if sent:
            who = "the registry's Authorization header reached the blob storage, which accepts only its signed URL"
            fix = (
                "the proxy must not forward Authorization on blob redirects "
                '(nginx: proxy_set_header Authorization "" in the blob location), nor follow the redirect itself'
            )
        else:
            who = f"regkit sent no Authorization, so something between added one: the proxy {exchange.proxy or '?'}"
            fix = f"the proxy must not add Authorization to requests for {host(exchange.url)}: signed URLs carry theirs"
        yield Finding(
            "storage-rejects-authorization",
            ERROR,
            f"{host(exchange.url)} refused the request: {refusal!r}: {who}",
            fix,
            (exchange,),
        )
        return


def storage_error(exchange: Exchange) -> tuple[str, str] | None:
    """``(code, message)`` of an S3-style XML error from a blob storage hop, or None."""
    if exchange.step != "blob" or "redirect" not in exchange.note or (exchange.status or 0) < 400:
        return None
    code = _XML_CODE.search(exchange.body_preview)
    if code is None:
        return None
    message = _XML_MESSAGE.search(exchange.body_preview)
    return code[1], message[1].strip() if message else ""


def storage_denied(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """An XML AccessDenied from the storage host, not the registry: a policy refuses the signed URL."""
    for exchange in exchanges:
        error = storage_error(exchange)
        if error is None or error[0] != "AccessDenied" or any(word in error[1] for word in _EXPIRED):
            continue
        request_id = exchange.header("x-amz-request-id")
        yield Finding(
            "storage-access-denied",
            ERROR,
            f"the blob storage host {host(exchange.url)}, not the registry, answered {exchange.status} "
            f"AccessDenied ({error[1] or 'no message'}) to the signed URL the registry redirected to"
            + (f"; x-amz-request-id {request_id}" if request_id else ""),
            "the registry authorised the pull; a policy on the way to the storage denies it: a VPC endpoint or "
            "bucket policy (allow the registry's storage bucket), or a proxy that changes the signed URL",
            (exchange,),
        )
        return


def _expiry(url: str) -> float | None:
    """When a signed URL expires (epoch seconds): ``expires``, or S3's ``X-Amz-Date`` + ``X-Amz-Expires``."""
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    try:
        if "expires" in query:
            return float(query["expires"])
        if "x-amz-date" in query and "x-amz-expires" in query:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            return signed.timestamp() + float(query["x-amz-expires"])
    except ValueError:
        return None
    return None


def _clock(exchange: Exchange) -> float | None:
    """The answering server's clock (its ``Date`` header), epoch seconds."""
    try:
        return parsedate_to_datetime(exchange.header("date") or "").timestamp()
    except (TypeError, ValueError):
        return None


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")


def signed_url_expired(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The storage host says the signed URL expired: its clock is ahead of the signer's, or it was used late."""
    for index, hop in enumerate(exchanges):
        error = storage_error(hop)
        if error is None or not any(word in error[1] for word in _EXPIRED):
            continue
        redirect = next((e for e in reversed(exchanges[:index]) if e.status in (301, 302, 303, 307, 308)), None)
        expires, storage_clock = _expiry(hop.url), _clock(hop)
        registry_clock = _clock(redirect) if redirect else None
        said = f"{host(hop.url)} answered {hop.status} {error[0]} ({error[1]})"
        if expires is not None and storage_clock is not None and registry_clock is not None:
            skew = storage_clock - registry_clock
            late = hop.started - redirect.started if redirect else 0.0
            said += (
                f": the URL expires at {_at(expires)}, the storage's clock said {_at(storage_clock)}, the registry's "
                f"{_at(registry_clock)} when it redirected ({late:.1f} s earlier)"
            )
            if skew > CLOCK_TOLERANCE:
                cause = f"clock skew: the storage host's clock is {skew:.0f} s ahead of the registry's, which signs"
                fix = "sync the clocks (NTP) of the registry host, which signs the URLs, and the storage; "
            else:
                cause = "not clock skew: the URL was used after it expired (a slow start, or a replayed redirect)"
                fix = "follow a blob redirect at once (a queued layer should ask the registry again); "
        else:
            cause, fix = "clock skew or a slow start", "sync the registry's clock (NTP), or follow redirects at once; "
        yield Finding(
            "signed-url-expired",
            ERROR,
            f"{said}; {cause}",
            fix + "asking the registry for the blob again gets a fresh URL",
            tuple(e for e in (hop, redirect) if e is not None),
        )
        return


def storage_head(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The storage host refuses HEAD on the URL the registry signed for GET (S3 signs the method)."""
    for exchange in exchanges:
        if exchange.method == "HEAD" and HEAD_PROBE in exchange.note and exchange.status in (400, 403, 405):
            yield Finding(
                "storage-head-forbidden",
                WARNING,
                f"{host(exchange.url)} answers {exchange.status} to a HEAD of the URL the registry signed for GET "
                "(the signature covers the method, as S3's does), while the GET worked",
                "clients, proxies and caches must GET a blob redirect (Range: bytes=0-0 for only its size), not "
                "HEAD it; docker, containerd and regkit do",
                (exchange,),
            )
            return
