"""The cost comparisons lessons 04 and 05 show: their numbers, their one-line summaries, their HTML."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

import regkit
from regkit.analysis.served import Served
from regkit.lab import Lab


@pytest.fixture(scope="module")
def two_pulls(open_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[regkit.PullResult, regkit.PullResult]:
    """busybox pulled twice from the open lab without the blob cache, one blob at a time and then three."""
    work = tmp_path_factory.mktemp("costs")
    ref = f"{open_lab.front_host}/library/busybox"
    one = regkit.pull(ref, work / "one.tar", insecure=True, cache=False, jobs=1)
    three = regkit.pull(ref, work / "three.tar", insecure=True, cache=False, jobs=3)
    return one, three


def test_compare_pulls(two_pulls: tuple[regkit.PullResult, regkit.PullResult]):
    one, three = two_pulls
    compared = regkit.compare_pulls({"jobs=1": one, "jobs=3": three})
    first, second = compared.pulls
    assert (first.name, first.requests, first.downloaded) == ("jobs=1", len(one.exchanges), one.downloaded_bytes)
    assert second.blob_requests == sum(e.step == "blob" for e in three.exchanges) and second.from_cache == 0
    ratio = one.seconds / three.seconds
    pace = f"{ratio:.1f} times as fast" if ratio >= 1 else f"{1 / ratio:.1f} times as slow"
    assert compared.summary == (
        f"In this run, jobs=1 took {one.seconds:.2f} s ({first.mib_per_second:.1f} MiB/s) and jobs=3 "
        f"{three.seconds:.2f} s ({second.mib_per_second:.1f} MiB/s): jobs=3 was {pace}."
    )
    html = compared._repr_html_()
    assert "<table" in html and "jobs=3 was" in html and "from the cache" in html
    alone = regkit.compare_pulls({"once": one}).summary
    assert alone == f"In this run, once took {one.seconds:.2f} s ({first.mib_per_second:.1f} MiB/s)."
    three_ways = regkit.compare_pulls({"a": one, "b": three, "c": one}).summary
    assert ", b " in three_ways and " and c " in three_ways and "c was 1.0 times as fast." in three_ways
    with pytest.raises(regkit.UsageError, match="at least one"):
        regkit.compare_pulls({})


def test_proxy_latency_matches_requests_by_what_they_asked(two_pulls: tuple[regkit.PullResult, regkit.PullResult]):
    one, three = two_pulls
    latency = regkit.proxy_latency(one, three)
    assert latency.matched == len(one.exchanges) == len(three.exchanges)
    # By path: a CDN URL's query (signature, expiry) differs from one pull to the next.
    waits = {(e.step, e.method, urlsplit(e.original_url).path): e.time_to_headers for e in one.exchanges}
    other = {(e.step, e.method, urlsplit(e.original_url).path): e.time_to_headers for e in three.exchanges}
    expected = statistics.median((other[key] - waits[key]) * 1000 for key in waits)
    assert latency.added_ms == pytest.approx(expected)
    assert latency.fastest_ms == pytest.approx(min(other.values()) * 1000)
    assert {step for step, _, _ in latency.steps} == {e.step for e in one.exchanges}
    assert latency.summary.startswith(f"In this run, the proxy added {expected:.0f} ms per request (median over ")
    assert "What the proxy adds" in latency._repr_html_()


@dataclass(frozen=True)
class Watched:
    status: int
    seconds: float
    served: tuple[Served, ...]


def row(server: str, path: str, status: int, size: int) -> Served:
    return Served(0.0, server, "GET", path, status, size, None)


def test_upstream_costs_count_the_upstream_only():
    blob = "/docker-blob/registry-v2/docker/registry/v2/blobs/sha256/ab/abc/data"
    first = Watched(
        0, 1.5, (row("gateway", "/v2/", 401, 87), row("gateway", blob, 200, 1000), row("CDN", blob, 200, 1000))
    )
    second = Watched(0, 0.5, (row("gateway", "/v2/library/busybox/manifests/latest", 200, 480),))
    broken = Watched(1, 3.0, (row("seed proxy", "/v2/", 404, 153),))
    costs = regkit.upstream_costs({"first": first, "second": second, "broken <b>": broken}, upstream="gateway")
    assert [(c.requests, c.blob_bytes) for c in costs.pulls] == [(2, 1000), (1, 0), (0, 0)]
    assert costs.pulls[0].per_server == (("gateway", 2), ("CDN", 1))
    assert costs.summary == (
        "In this run, upstream (gateway) per pull: first: 2 requests, 1000 blob bytes; "
        "second: 1 requests, 0 blob bytes; broken <b>: 0 requests, 0 blob bytes."
    )
    html = costs._repr_html_()
    assert "broken &lt;b&gt;" in html and "<b>" not in html and "✗ 1 failed" in html


def test_a_docker_pull_summary_names_its_mirror():
    from regkit.lab import DockerPull

    pulled = DockerPull("busybox", ("http://127.0.0.1:1",), 1, 2.5, "Using default tag\nError: no such host", None)
    assert not pulled.ok and pulled.served == ()
    assert (
        pulled.summary == "docker pull busybox via http://127.0.0.1:1: exit status 1 after 2.50 s: Error: no such host"
    )
