"""The sequence diagram of a pull, from real pulls against the lab: one arrow per exchange, honest marks."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

import regkit
from regkit.display import sequence
from regkit.display.sequence import LANE_TITLES, auth_mark
from regkit.http.endpoints import ENV_AUTH, Endpoints
from regkit.lab import Lab
from tests.test_lab import cli


def arrows_of(svg: str) -> list[dict[str, str]]:
    """Each arrow's data attributes, in order."""
    return [dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag)) for tag in re.findall(r'<g class="arrow"[^>]*>', svg)]


def test_the_diagram_of_a_private_pull_through_the_proxy(hub_lab: Lab, tmp_path: Path):
    client = regkit.Client(endpoints=hub_lab.proxy_endpoints(), auth=hub_lab.credentials)
    result = regkit.pull("private/busybox", tmp_path / "p.tar", client=client, cache=False)
    exchanges = sorted(client.transcript, key=lambda e: e.started)
    diagram = sequence(client.transcript, "private/busybox")
    svg = diagram.svg()
    drawn = arrows_of(svg)
    assert len(drawn) == len(exchanges) >= 6
    assert len(arrows_of(sequence(result).svg())) == len(result.exchanges)  # a result's own exchanges
    carried = ["sent" if any(n.lower() == "authorization" for n, _ in e.request_headers) else "" for e in exchanges]
    assert [a["auth"] for a in drawn] == [auth_mark(e) for e in exchanges]
    assert [a["auth"] == "sent" for a in drawn] == [c == "sent" for c in carried]
    # The token request carried Basic credentials, the manifest and blob GETs the token, the CDN hops nothing.
    assert [a["lane"] for a in drawn if a["auth"] == "withheld"] == ["cdn"] * len(result.blobs)
    assert {a["lane"] for a in drawn} == {"registry", "token", "cdn"}
    assert all(a["failed"] == "false" for a in drawn)
    page = diagram._repr_html_()
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    user, password = hub_lab.credentials
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    secrets = [result.token.value, password, basic, hub_lab.settings.secret]
    assert [s[:4] for s in secrets if s and (s in page or s in str(diagram))] == []
    assert "md5=" not in page  # the CDN's signed query is not drawn at all
    text = str(diagram)
    for title in LANE_TITLES.values():
        assert title in text.splitlines()[1]
    assert text.count("(on purpose)") == len(result.blobs)


def test_failed_hops_stay_in_place(hub_lab: Lab, tmp_path: Path):
    endpoints = Endpoints.create(auth=hub_lab.proxy_env()[ENV_AUTH], insecure=True)
    client = regkit.Client(endpoints=endpoints)
    with pytest.raises(regkit.RegkitError):
        regkit.pull(f"{hub_lab.front_host}/library/busybox", tmp_path / "b.tar", client=client, cache=False)
    drawn = arrows_of(sequence(client.transcript).svg())
    exchanges = sorted(client.transcript, key=lambda e: e.started)
    assert [a["failed"] == "true" for a in drawn] == [bool(e.error) for e in exchanges]
    assert {a["lane"] for a in drawn if a["failed"] == "true"} == {"cdn"}
    assert "refused" in str(sequence(client.transcript))


@pytest.mark.parametrize("fixed", [True, False], ids=["seed-proxy", "direct"])
def test_pull_trace_prints_the_diagram(hub_lab: Lab, tmp_path: Path, fixed: bool):
    env = hub_lab.proxy_env() if fixed else {}
    ref = "busybox" if fixed else f"{hub_lab.front_host}/library/busybox"
    mirror = [f"--mirror={hub_lab.proxy_url}/docker-registry"] if fixed else []
    done = cli(
        "pull",
        ref,
        *mirror,
        "--no-cache",
        "--insecure-registry",
        "--trace",
        "-q",
        "-o",
        str(tmp_path / "t.tar"),
        env=env,
    )
    assert done.returncode == (0 if fixed else 1), done.stderr
    lines = done.stderr.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("client"))
    assert all(title in header for title in LANE_TITLES.values())
    assert "401 Unauthorized" in done.stderr
    if fixed:
        assert "307 Temporary Redirect" in done.stderr and "200 OK" in done.stderr
        assert "redirect 1, no Authorization (on purpose)" in done.stderr
    else:
        # The realm nobody can reach: the token request fails in place, on the token service's lane.
        assert re.search(r"\|-+x  \|( +)\|\s+\d+\. GET /token\s+-> failed", done.stderr), done.stderr
    assert hub_lab.settings.password not in done.stderr
