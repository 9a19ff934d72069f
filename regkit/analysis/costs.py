"""What a way of pulling costs, as small results: pulls side by side, a proxy's added wait, a mirror's upstream.

- :func:`compare_pulls`: requests, bytes, time and throughput of named pulls (``jobs=1`` against
  ``jobs=3``, a first pull against a second), and how much faster each was than the first;
- :func:`proxy_latency`: what a proxy adds to each request's wait, from the same pull made direct
  and through it (requests matched by what they asked for);
- :func:`upstream_costs`: what each pull through a mirror cost upstream, from the requests the
  upstream server answered (its log rows, :class:`~regkit.analysis.served.Served`).

Each has a one-line ``summary`` stating this run's numbers; the HTML is in :mod:`regkit.display.analysis_html`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .._repr import HtmlRepr
from ..errors import UsageError
from ..steps.pull import PullResult
from .served import Served, blob_bytes

MIB = 2**20


@dataclass(frozen=True)
class PullFigures:
    """One pull's numbers."""

    name: str
    requests: int
    blob_requests: int
    from_cache: int  # blobs taken from the blob cache instead of downloaded
    downloaded: int  # bytes
    seconds: float

    @property
    def mib_per_second(self) -> float:
        """Downloaded MiB over the whole pull's time (token and manifest included)."""
        return self.downloaded / MIB / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class PullComparison(HtmlRepr):
    """Named pulls side by side (:func:`compare_pulls`).

    Attributes
    ----------
    pulls : tuple of PullFigures
        Each pull's name, requests, blob requests, blobs from the cache, bytes downloaded and seconds; the
        first is the one the others are compared with.
    """

    pulls: tuple[PullFigures, ...]

    def speedup(self, pull: PullFigures) -> float:
        """How many times as fast as the first pull ``pull`` was (below 1: slower).

        Parameters
        ----------
        pull : PullFigures
            One of :attr:`pulls`.

        Returns
        -------
        float
            The first pull's seconds over ``pull``'s; infinity when ``pull`` took no measurable time.
        """
        return self.pulls[0].seconds / pull.seconds if pull.seconds else float("inf")

    @property
    def summary(self) -> str:
        """One line: each pull's time and throughput, and each against the first."""
        first, *rest = self.pulls
        timed = [f"{first.name} took {_timing(first)}", *(f"{p.name} {_timing(p)}" for p in rest)]
        took = ", ".join(timed[:-1]) + f" and {timed[-1]}" if rest else timed[0]
        paces = [f"{p.name} was {_pace(self.speedup(p))}" for p in rest]
        return f"In this run, {took}" + (f": {', '.join(paces)}." if paces else ".")


def _timing(pull: PullFigures) -> str:
    """``2.91 s (16.8 MiB/s)``."""
    return f"{pull.seconds:.2f} s ({pull.mib_per_second:.1f} MiB/s)"


def _pace(ratio: float) -> str:
    """``2.9 times as fast`` or ``1.3 times as slow``."""
    return f"{ratio:.1f} times as fast" if ratio >= 1 else f"{1 / ratio:.1f} times as slow"


def compare_pulls(pulls: Mapping[str, PullResult]) -> PullComparison:
    """Named pulls side by side, the first being the one the others are compared with.

    Parameters
    ----------
    pulls : Mapping[str, PullResult]
        The pulls by name, in the order to show them.

    Returns
    -------
    PullComparison
        Their times, throughputs and request counts; ``summary`` says it in one line.

    Raises
    ------
    UsageError
        No pull was given.
    """
    if not pulls:
        raise UsageError("compare_pulls needs at least one pull", hint="pass {name: pull result, ...}")
    return PullComparison(
        tuple(
            PullFigures(
                name,
                len(result.exchanges),
                sum(exchange.step == "blob" for exchange in result.exchanges),
                len(result.cached_blobs),
                result.downloaded_bytes,
                result.seconds,
            )
            for name, result in pulls.items()
        )
    )


@dataclass(frozen=True)
class ProxyLatency(HtmlRepr):
    """What a proxy added to each request's wait for its answer's headers (:func:`proxy_latency`).

    Attributes
    ----------
    matched : int
        Requests asked for in both pulls.
    added_ms : float
        Median, over the matched requests, of the wait through the proxy less the wait direct.
    fastest_ms : float
        The quickest answer through the proxy.
    direct_seconds, proxied_seconds : float
        The whole pulls' times.
    steps : tuple of (str, float, float)
        Per step: the median wait in ms direct and through the proxy.
    """

    matched: int  # requests asked for in both pulls
    added_ms: float  # median over the matched requests of (through the proxy - direct)
    fastest_ms: float  # the quickest answer through the proxy
    direct_seconds: float
    proxied_seconds: float
    steps: tuple[tuple[str, float, float], ...]  # (step, median ms direct, median ms through the proxy)

    @property
    def summary(self) -> str:
        """One line: the added wait, the quickest answer through the proxy, and the whole pulls."""
        more = self.proxied_seconds - self.direct_seconds
        whole = f"{more:.2f} s longer" if more >= 0 else f"{-more:.2f} s shorter"
        return (
            f"In this run, the proxy added {self.added_ms:.0f} ms per request (median over {self.matched} "
            f"matching requests); no request through the proxy was answered in less than {self.fastest_ms:.0f} ms. "
            f"The whole pull took {self.proxied_seconds:.2f} s through the proxy and {self.direct_seconds:.2f} s "
            f"direct: {whole}."
        )


def _waits(result: PullResult) -> dict[tuple[str, str, str], float]:
    """Each request's time to headers, keyed by what it asked for (the same whichever way it went)."""
    return {(e.step, e.method, urlsplit(e.original_url).path): e.time_to_headers or 0.0 for e in result.exchanges}


def _step_medians(result: PullResult) -> dict[str, float]:
    """Median time to headers per step, in ms."""
    waits: dict[str, list[float]] = {}
    for exchange in result.exchanges:
        waits.setdefault(exchange.step, []).append((exchange.time_to_headers or 0.0) * 1000)
    return {step: statistics.median(values) for step, values in waits.items()}


def proxy_latency(direct: PullResult, proxied: PullResult) -> ProxyLatency:
    """The same pull made direct and through a proxy: what the proxy added to each request's wait.

    Parameters
    ----------
    direct : PullResult
        The pull made without the proxy.
    proxied : PullResult
        The same image pulled through the proxy.

    Returns
    -------
    ProxyLatency
        The median added wait per request, per step, and the whole pulls' times.

    Raises
    ------
    UsageError
        The two pulls asked for nothing in common.
    """
    near, far = _waits(direct), _waits(proxied)
    matched = near.keys() & far.keys()
    if not matched:
        raise UsageError("the two pulls asked for nothing in common", hint="pull the same image both ways")
    near_steps, far_steps = _step_medians(direct), _step_medians(proxied)
    return ProxyLatency(
        matched=len(matched),
        added_ms=statistics.median((far[key] - near[key]) * 1000 for key in matched),
        fastest_ms=min(far[key] for key in matched) * 1000,
        direct_seconds=direct.seconds,
        proxied_seconds=proxied.seconds,
        steps=tuple((step, near_steps[step], far_steps[step]) for step in near_steps if step in far_steps),
    )


class WatchedPull(Protocol):
    """A pull whose servers were watched (such as :class:`regkit.lab.engine.DockerPull`)."""

    @property
    def status(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def served(self) -> tuple[Served, ...]: ...


@dataclass(frozen=True)
class UpstreamCost:
    """What one pull cost upstream, and how many requests each server answered meanwhile."""

    name: str
    status: int
    seconds: float
    requests: int
    blob_bytes: int
    per_server: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class UpstreamCosts(HtmlRepr):
    """Pulls through mirrors, side by side, by what reached ``upstream`` (:func:`upstream_costs`).

    Attributes
    ----------
    upstream : str
        The lab server whose answers count as upstream cost.
    pulls : tuple of UpstreamCost
        Per pull: its exit status, seconds, requests and blob bytes upstream, and requests per server.
    """

    upstream: str
    pulls: tuple[UpstreamCost, ...]

    @property
    def summary(self) -> str:
        """One line: requests and blob bytes upstream per pull."""
        each = "; ".join(f"{p.name}: {p.requests} requests, {p.blob_bytes} blob bytes" for p in self.pulls)
        return f"In this run, upstream ({self.upstream}) per pull: {each}."


def upstream_costs(pulls: Mapping[str, WatchedPull], upstream: str) -> UpstreamCosts:
    """Named pulls by what the server ``upstream`` answered during each: requests and blob bytes.

    Parameters
    ----------
    pulls : Mapping[str, WatchedPull]
        Pulls whose servers were watched (:meth:`regkit.lab.DockerEngine.pull` with ``watch=``), by name.
    upstream : str
        The server that stands for upstream (``gateway``, ``registry``, …; see :mod:`regkit.lab.traffic`).

    Returns
    -------
    UpstreamCosts
        Requests and blob bytes upstream per pull; ``summary`` says it in one line.

    Raises
    ------
    AttributeError
        Never for a pull that has ``served``, ``status`` and ``seconds``; nothing is checked beyond that.
    """
    costs = []
    for name, pull in pulls.items():
        above = [row for row in pull.served if row.server == upstream]
        counts = Counter(row.server for row in pull.served)
        cost = UpstreamCost(name, pull.status, pull.seconds, len(above), blob_bytes(above), tuple(counts.items()))
        costs.append(cost)
    return UpstreamCosts(upstream, tuple(costs))
