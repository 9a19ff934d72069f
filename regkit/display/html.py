"""HTML reprs for notebooks: escaped, CSS-only, built from small functions; no I/O.

Everything shown here was redacted when recorded; values are escaped again here because names,
headers and error bodies come from a registry and are hostile. A token's value is never shown,
only the claims decoded from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..errors import RegkitError
    from ..http.exchange import Exchange
    from ..oci.challenge import Challenge
    from ..oci.jwt import JwtClaims
    from ..oci.manifest import Index
    from ..oci.reference import Reference
    from ..steps.auth import Token
    from ..steps.blobs import BlobResult
    from ..steps.manifest_fetch import ManifestResult
    from ..steps.pull import PullResult
    from ..steps.tarball import AssembledImage

# The table rules are specific enough to win over JupyterLab's (right-aligned, borderless) cells. Colours
# are JupyterLab's theme variables, picked per theme so that each keeps a WCAG contrast of at least 4.5:1
# on the output background (the light theme's warn colours do not: the redirect colour is our own there);
# the fallbacks are for pages without JupyterLab (nbconvert, VS Code). Colour never carries meaning alone:
# every status also has a symbol and a word, and errors are <strong>, which reads with the styles stripped.
_CSS = """<style>
.regkit{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4}
.regkit .rk-title{margin:.2em 0;font-size:14px}
.regkit table.rk{border-collapse:collapse;margin:.2em 0}
.regkit table.rk td,.regkit table.rk th{border:1px solid var(--jp-border-color1,#bdbdbd);padding:2px 6px;
text-align:left;vertical-align:top}
.regkit code,.regkit pre{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.regkit pre{white-space:pre-wrap;word-break:break-all;margin:.2em 0}
.regkit .ok{color:var(--jp-success-color0,#1b5e20)}.regkit .redirect{color:#7a5b00}
.regkit .bad{color:var(--jp-error-color0,#b71c1c)}
[data-jp-theme-light=false] .regkit .ok{color:var(--jp-success-color1,#4caf50)}
[data-jp-theme-light=false] .regkit .redirect{color:var(--jp-warn-color1,#ff9800)}
[data-jp-theme-light=false] .regkit .bad{color:var(--jp-error-color1,#f44336)}
.regkit .muted{color:var(--jp-ui-font-color2,#595959)}
.regkit details{margin:.2em 0}.regkit details details{margin-left:1.2em}
</style>"""


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def human_size(size: int | float) -> str:
    """``1.5 MiB`` style sizes."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def plural(count: int, noun: str) -> str:
    """``1 layer``, ``3 layers``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def milliseconds(seconds: float | None) -> str:
    """``35 ms``, or '' when not measured."""
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def _when(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _time_left(seconds: float | None) -> str:
    if seconds is None:
        return "never expires"
    return f"{seconds:.0f} s" if seconds >= 0 else f"expired {-seconds:.0f} s ago"


def box(title: str, body: str) -> str:
    """``body`` under a title, with the stylesheet: a complete HTML repr.

    The title is bold text, not a heading: headings in outputs become Table of Contents entries.
    """
    return f'{_CSS}<div class="regkit"><div class="rk-title"><strong>{_text(title)}</strong></div>{body}</div>'


def table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{_text(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="rk">{head}{body}</table>'


def facts_table(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of the rows whose value is not empty."""
    return table((name, value) for name, value in rows if value not in ("", None))


def _details(summary: str, body: str, *, open: bool = False) -> str:
    return f"<details{' open' if open else ''}><summary>{summary}</summary>{body}</details>"


# Per kind of status: its CSS class, and the symbol and word that say it without colour.
_STATUS = {"ok": ("ok", "✓ ok"), "redirect": ("redirect", "↪ redirect"), "error": ("bad", "✗ error")}


def status_kind(status: int | None) -> str:
    """``ok``, ``redirect`` or ``error`` (no status: the request failed)."""
    if status is None or status >= 400:
        return "error"
    return "redirect" if 300 <= status < 400 else "ok"


def status_mark(kind: str, text: str) -> str:
    """``text`` with its kind's symbol and word, coloured; an error also <strong>."""
    css, word = _STATUS[kind]
    mark = f'<span class="{css}">{_text(word)}: {_text(text)}</span>'
    return f"<strong>{mark}</strong>" if kind == "error" else mark


def _status(exchange: Exchange) -> str:
    text = f"{exchange.status} {exchange.reason}" if exchange.status else f"failed: {exchange.error}"
    return status_mark(status_kind(exchange.status), text)


def _exchange_facts(exchange: Exchange) -> str:
    rate = exchange.throughput
    return facts_table(
        [
            ("meant", exchange.original_url if exchange.rewritten else ""),
            ("via HTTP proxy", exchange.proxy),
            ("attempt", exchange.attempt if exchange.attempt > 1 else ""),
            ("note", exchange.note),
            ("error", exchange.error if exchange.status else ""),
            ("time to headers", milliseconds(exchange.time_to_headers)),
            ("total time", milliseconds(exchange.total_time)),
            ("received", human_size(exchange.bytes_received)),
            ("throughput", f"{human_size(rate)}/s" if rate else ""),
        ]
    )


def exchange_row(exchange: Exchange, *, open: bool = False) -> str:
    """One exchange as a collapsible line: timings, headers, body preview and the equivalent curl."""
    summary = (
        f"<code>{_text(exchange.step)} {_text(exchange.method)} {_text(exchange.url)}</code> → "
        f"{_status(exchange)} {_text(milliseconds(exchange.total_time))} {_text(human_size(exchange.bytes_received))}"
    )
    parts = [_exchange_facts(exchange), table(exchange.request_headers, ("request header", "value"))]
    if exchange.response_headers:
        parts.append(table(exchange.response_headers, ("response header", "value")))
    if exchange.body_preview:
        parts.append(f"<pre>{_text(exchange.body_preview)}</pre>")
    parts.append(_details("as curl", f"<pre>{_text(exchange.to_curl())}</pre>"))
    return _details(summary, "".join(parts), open=open)


def exchange_html(exchange: Exchange) -> str:
    """An exchange, opened, with its headers."""
    return box("HTTP exchange", exchange_row(exchange, open=True))


def _exchange_list(exchanges: Sequence[Exchange]) -> str:
    """Requests per step and bytes received, then one collapsible line per exchange."""
    if not exchanges:
        return ""
    counts = ", ".join(f"{n} {step}" for step, n in Counter(e.step for e in exchanges).items())
    total = human_size(sum(e.bytes_received for e in exchanges))
    head = f'<p class="muted">{plural(len(exchanges), "request")} ({_text(counts)}); {_text(total)} received</p>'
    return head + "".join(exchange_row(e) for e in exchanges)


def exchanges_html(exchanges: Sequence[Exchange]) -> str:
    """A transcript: one collapsible line per exchange."""
    return box(plural(len(exchanges), "HTTP exchange"), _exchange_list(exchanges))


def reference_html(ref: Reference) -> str:
    """The parts of a resolved reference."""
    rows: list[tuple[str, object]] = [("input", ref.original), ("registry", ref.registry)]
    rows += [("repository", ref.repository), ("tag", ref.tag or ""), ("digest", ref.digest or "")]
    rows += [("resolved", ref), ("token scope", ref.scope)]
    return box("Reference", table(rows))


def challenge_table(challenge: Challenge) -> str:
    """A ``WWW-Authenticate`` challenge: its scheme and parameters."""
    return table([("scheme", challenge.scheme), *sorted(challenge.params.items())], ("challenge", ""))


def challenge_html(challenge: Challenge) -> str:
    """A challenge on its own."""
    return box("WWW-Authenticate challenge", challenge_table(challenge))


def claims_table(claims: JwtClaims) -> str:
    """Who issued a JWT, for whom and what, and until when: the claims, never the signature."""
    return facts_table(
        [
            ("issuer (iss)", claims.issuer),
            ("subject (sub)", claims.subject or "(anonymous)"),
            ("audience (aud)", claims.audience),
            ("access", ", ".join(claims.access) or "(nothing granted)"),
            ("issued (iat)", _when(claims.issued_at)),
            ("expires (exp)", _when(claims.expires_at)),
            ("time left", _time_left(claims.seconds_left())),
            ("signed with", claims.algorithm),
        ]
    )


def token_html(token: Token) -> str:
    """The token's kind, scope, claims and lifetime (never its value) and the exchanges that got it."""
    rows = [("kind", token.kind), ("realm", token.realm), ("service", token.service), ("scope", token.scope)]
    assumed = " (assumed: the answer had no expires_in)" if token.expires_assumed else ""
    rows += [("expires in", f"{token.expires_in} s{assumed}" if token.kind == "bearer" else "")]
    rows += [("time left", _time_left(token.seconds_left()))]
    parts = [facts_table(rows)]
    claims = token.claims
    if claims is not None:
        parts.append("<p>JWT claims (decoded, not verified; the signature is not shown):</p>" + claims_table(claims))
    if token.challenge is not None:
        parts.append(challenge_table(token.challenge))
    parts.extend(exchange_row(e) for e in token.exchanges)
    return box("Token", "".join(parts))


def index_table(index: Index) -> str:
    """The entries of an index: platform, digest, size, and which are attestations."""
    rows = [
        (d.platform or "", d.digest.short, human_size(d.size), "attestation" if d.is_attestation else "")
        for d in index.manifests
    ]
    return table(rows, ("platform", "digest", "size", ""))


def manifest_html(result: ManifestResult) -> str:
    """Index platforms (if any), then config and layers with sizes."""
    parts = []
    if result.index is not None:
        parts.append(f"<p>index <code>{_text(result.index.digest)}</code> ({_text(result.index.media_type)})</p>")
        parts.append(index_table(result.index))
        parts.append(f"<p>chosen: <code>{_text(result.platform)}</code></p>")
    total = human_size(result.manifest.total_size)
    parts.append(
        f"<p>{_text(result.manifest.media_type)}, {_text(plural(len(result.layers), 'layer'))}, {_text(total)}</p>"
    )
    rows = [("config", result.config.digest.short, human_size(result.config.size), result.config.media_type)]
    rows += [(f"layer {i}", d.digest.short, human_size(d.size), d.media_type) for i, d in enumerate(result.layers)]
    parts.append(table(rows, ("", "digest", "size", "media type")))
    parts.extend(exchange_row(e) for e in result.exchanges)
    return box(f"Manifest {result.digest}", "".join(parts))


def blob_html(blob: BlobResult) -> str:
    """A verified blob, its size and time, and its exchanges (redirect hops included)."""
    rows = [("digest", blob.descriptor.digest), ("media type", blob.descriptor.media_type)]
    rows += [("size", human_size(blob.size)), ("path", blob.path), ("time", f"{blob.seconds:.2f} s")]
    rows += [("from cache", blob.cached)]
    return box("Blob", table(rows) + "".join(exchange_row(e) for e in blob.exchanges))


def image_html(image: AssembledImage) -> str:
    """The written image."""
    rows = [("path", image.path), ("format", image.format), ("image ID", image.image_id)]
    rows += [
        ("manifest", image.manifest_digest),
        ("tags", ", ".join(image.repo_tags)),
        ("converted layers", ", ".join(str(i) for i in image.converted) or "none"),
    ]
    return box("Assembled image", table(rows))


def pull_html(result: PullResult) -> str:
    """A pull's summary followed by all of its exchanges."""
    rows: list[tuple[str, object]] = [("reference", result.reference), ("platform", result.manifest.platform or "")]
    rows += [("manifest", result.manifest.digest), ("layers", len(result.manifest.layers))]
    rows += [("output", result.image.path), ("image ID", result.image.image_id)]
    rows += [("downloaded", human_size(result.downloaded_bytes)), ("time", f"{result.seconds:.2f} s")]
    cached = result.cached_blobs
    rows += [
        ("from the cache", f"{len(cached)} of {len(result.blobs)} blobs ({human_size(sum(b.size for b in cached))})")
    ]
    rows += [(f"cached {b.descriptor.digest.short}", human_size(b.size)) for b in cached]
    return box("Pull", facts_table(rows) + _exchange_list(result.exchanges))


def error_html(error: RegkitError) -> str:
    """An error with its hint and the failing exchange, opened."""
    body = f"<p>{status_mark('error', error.message)}</p>"
    if error.hint:
        body += f"<p>hint: {_text(error.hint)}</p>"
    available = getattr(error, "available", None)
    if available:
        body += f"<p>available: {_text(', '.join(str(p) for p in available))}</p>"
    if error.exchange is not None:
        body += exchange_row(error.exchange, open=True)
    return box(type(error).__name__, body)
