"""HTML reprs for notebooks: escaped, CSS-only, built from small functions; no I/O.

Everything shown here was redacted when recorded; values are escaped again here because names,
headers and error bodies come from a registry and are hostile.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..auth import Token
    from ..blobs import BlobResult
    from ..errors import RegkitError
    from ..exchange import Exchange
    from ..manifests import ManifestResult
    from ..pull import PullResult
    from ..reference import Reference
    from ..tarball import AssembledImage

_CSS = """<style>
.regkit{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4}
.regkit h4{margin:.2em 0;font-size:14px}
.regkit table{border-collapse:collapse;margin:.2em 0}
.regkit td,.regkit th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.regkit code{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.regkit .ok{color:#17692a}.regkit .redirect{color:#7a5b00}.regkit .bad{color:#b00020}
.regkit details{margin:.2em 0}
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


def _box(title: str, body: str) -> str:
    return f'{_CSS}<div class="regkit"><h4>{_text(title)}</h4>{body}</div>'


def _table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{_text(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _status_class(status: int | None) -> str:
    if status is None or status >= 400:
        return "bad"
    return "redirect" if 300 <= status < 400 else "ok"


def exchange_row(exchange: Exchange) -> str:
    """One exchange as a collapsible line with its headers."""
    status = _text(f"{exchange.status} {exchange.reason}" if exchange.status else f"failed: {exchange.error}")
    timing = f"{exchange.total_time * 1000:.0f} ms" if exchange.total_time is not None else ""
    summary = (
        f"<summary><code>{_text(exchange.step)} {_text(exchange.method)} {_text(exchange.url)}</code> → "
        f'<span class="{_status_class(exchange.status)}">{status}</span> {_text(timing)} '
        f"{_text(human_size(exchange.bytes_received))}</summary>"
    )
    parts = [_table(exchange.request_headers, ("request header", "value"))]
    if exchange.response_headers:
        parts.append(_table(exchange.response_headers, ("response header", "value")))
    if exchange.rewritten:
        parts.append(f"<p>meant: <code>{_text(exchange.original_url)}</code></p>")
    if exchange.body_preview:
        parts.append(f"<pre>{_text(exchange.body_preview)}</pre>")
    return f"<details>{summary}{''.join(parts)}</details>"


def exchange_html(exchange: Exchange) -> str:
    """An exchange with its headers."""
    return _box("HTTP exchange", exchange_row(exchange))


def exchanges_html(exchanges: list[Exchange]) -> str:
    """A list of exchanges, one collapsible line each."""
    return _box(f"{len(exchanges)} HTTP exchanges", "".join(exchange_row(e) for e in exchanges))


def reference_html(ref: Reference) -> str:
    """The parts of a resolved reference."""
    rows: list[tuple[str, object]] = [("input", ref.original), ("registry", ref.registry)]
    rows += [("repository", ref.repository), ("tag", ref.tag or ""), ("digest", ref.digest or ""), ("resolved", ref)]
    return _box("Reference", _table(rows))


def token_html(token: Token) -> str:
    """The token's kind, scope and lifetime (never its value) and the exchanges that got it."""
    left = token.seconds_left()
    rows = [("kind", token.kind), ("realm", token.realm), ("service", token.service), ("scope", token.scope)]
    rows += [("expires in", f"{token.expires_in} s"), ("time left", "" if left is None else f"{left:.0f} s")]
    return _box("Token", _table(rows) + "".join(exchange_row(e) for e in token.exchanges))


def manifest_html(result: ManifestResult) -> str:
    """Index platforms (if any), then config and layers with sizes."""
    parts = []
    if result.index is not None:
        rows = [
            (d.platform or "", d.digest.short, human_size(d.size), "attestation" if d.is_attestation else "")
            for d in result.index.manifests
        ]
        parts.append(_table(rows, ("platform", "digest", "size", "")))
        parts.append(f"<p>chosen: <code>{_text(result.platform)}</code></p>")
    rows = [("config", result.config.digest.short, human_size(result.config.size), result.config.media_type)]
    rows += [(f"layer {i}", d.digest.short, human_size(d.size), d.media_type) for i, d in enumerate(result.layers)]
    parts.append(_table(rows, ("", "digest", "size", "media type")))
    parts.extend(exchange_row(e) for e in result.exchanges)
    return _box(f"Manifest {result.digest}", "".join(parts))


def blob_html(blob: BlobResult) -> str:
    """A verified blob, its size and time, and its exchanges (redirect hops included)."""
    rows = [("digest", blob.descriptor.digest), ("size", human_size(blob.size)), ("path", blob.path)]
    rows += [("time", f"{blob.seconds:.2f} s"), ("from cache", blob.cached)]
    return _box("Blob", _table(rows) + "".join(exchange_row(e) for e in blob.exchanges))


def image_html(image: AssembledImage) -> str:
    """The written image."""
    rows = [("path", image.path), ("format", image.format), ("image ID", image.image_id)]
    rows += [
        ("manifest", image.manifest_digest),
        ("tags", ", ".join(image.repo_tags)),
        ("converted layers", image.converted),
    ]
    return _box("Assembled image", _table(rows))


def pull_html(result: PullResult) -> str:
    """A pull's summary followed by all of its exchanges."""
    rows = [("reference", result.reference), ("output", result.image.path), ("image ID", result.image.image_id)]
    rows += [("downloaded", human_size(result.downloaded_bytes)), ("time", f"{result.seconds:.2f} s")]
    return _box("Pull", _table(rows) + "".join(exchange_row(e) for e in result.exchanges))


def error_html(error: RegkitError) -> str:
    """An error with its hint and the failing exchange."""
    body = f'<p class="bad">{_text(error.message)}</p>'
    if error.hint:
        body += f"<p>{_text(error.hint)}</p>"
    if error.exchange is not None:
        body += exchange_row(error.exchange)
    return _box(type(error).__name__, body)
