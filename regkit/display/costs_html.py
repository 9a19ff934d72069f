"""HTML reprs of the cost comparisons (:mod:`regkit.analysis.costs`): a table, and the summary under it."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .html import box, human_size, table

if TYPE_CHECKING:
    from ..analysis.costs import ProxyLatency, PullComparison, UpstreamCosts
    from ..analysis.dialects import DialectComparison


def _summary(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def pull_comparison_html(comparison: PullComparison) -> str:
    """One row per pull: requests, blobs, bytes, time, throughput, pace against the first."""
    rows = [
        (
            p.name,
            p.requests,
            p.blob_requests,
            p.from_cache,
            human_size(p.downloaded),
            f"{p.seconds:.2f} s",
            f"{p.mib_per_second:.1f} MiB/s",
            f"{comparison.speedup(p):.1f} times the first" if index else "the first",
        )
        for index, p in enumerate(comparison.pulls)
    ]
    header = ("pull", "requests", "blob requests", "from the cache", "downloaded", "time", "throughput", "pace")
    return box("Pulls side by side", table(rows, header) + _summary(comparison.summary))


def proxy_latency_html(latency: ProxyLatency) -> str:
    """Median time to headers per step, direct and through the proxy, and the added wait."""
    rows = [(step, f"{near:.0f} ms", f"{far:.0f} ms", f"{far - near:+.0f} ms") for step, near, far in latency.steps]
    header = ("step", "direct (median)", "through the proxy (median)", "added")
    return box("What the proxy adds to each request", table(rows, header) + _summary(latency.summary))


def upstream_costs_html(costs: UpstreamCosts) -> str:
    """One row per pull: its exit status, time, what reached upstream, and the requests each server answered."""
    rows = [
        (
            p.name,
            f"✓ {p.status} ok" if p.status == 0 else f"✗ {p.status} failed",
            f"{p.seconds:.2f} s",
            p.requests,
            human_size(p.blob_bytes),
            ", ".join(f"{server} {count}" for server, count in p.per_server) or "none",
        )
        for p in costs.pulls
    ]
    header = ("pull", "exit status", "time", f"requests to {costs.upstream}", "blob bytes", "requests per server")
    return box(f"What each pull cost upstream ({costs.upstream})", table(rows, header) + _summary(costs.summary))


def dialect_comparison_html(comparison: DialectComparison) -> str:
    """One row per registry: challenge, token endpoint, fields and lifetime, redirect, signed keys, refusals."""
    records = [row.record() for row in comparison.rows]
    header = tuple(records[0]) if records else ("registry",)
    rows = [tuple(record.values()) for record in records]
    return box("The same pull from each registry", table(rows, header) + _summary(comparison.summary))
