"""``lab.traffic()``: what each lab server answered, read from its own log, against the real servers.

Every count is checked two ways that share no code with :mod:`regkit.lab.traffic`: against the
client's own transcript (what it sent to each address), and against the raw log lines each server
appended meanwhile, counted here with a plain split or regex.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import requests

import regkit
from regkit.http.mirrors import Mirrors
from regkit.lab import Lab

REGISTRY_ACCESS = re.compile(r'^\S+ - \S+ \[[^\]]+\] "[A-Z]+ \S+ HTTP/[\d.]+" \d{3} ')


def log_sizes(lab: Lab) -> dict[str, int]:
    """Where each log ends now."""
    paths = log_paths(lab)
    return {name: path.stat().st_size for name, path in paths.items()}


def log_paths(lab: Lab) -> dict[str, Path]:
    paths = {
        "nginx": lab.state_dir / "nginx" / "access.log",
        "registry": lab.state_dir / "registry" / "registry.log",
        "service": lab.state_dir / "service" / "service.log",
    }
    if lab.settings.cache:
        paths["cache"] = lab.state_dir / "pullthrough" / "registry.log"
    return paths


def appended(lab: Lab, sizes: dict[str, int]) -> dict[str, list[str]]:
    """The lines each log got after ``sizes`` (the traffic window has already waited for the logs to settle)."""
    lines = {}
    for name, path in log_paths(lab).items():
        with path.open("rb") as log:
            log.seek(sizes[name])
            lines[name] = log.read().decode().splitlines()
    return lines


def sent_to(client: regkit.Client, port: int) -> int:
    """How many requests the client sent to 127.0.0.1:``port`` (its whole transcript)."""
    return sum(urlsplit(exchange.url).port == port for exchange in client.transcript)


def test_a_direct_pull_counts_what_each_server_logged(open_lab: Lab, tmp_path: Path):
    sizes = log_sizes(open_lab)
    client = regkit.Client(insecure=True)
    with open_lab.traffic() as seen:
        result = regkit.pull(f"{open_lab.front_host}/library/busybox", tmp_path / "b.tar", client=client, cache=False)
    raw = appended(open_lab, sizes)
    s = open_lab.settings
    # What the client sent to each address is what that server answered.
    assert seen.count("registry") == sent_to(client, s.front) >= 4
    assert seen.count("token service") == sent_to(client, s.token) >= 1
    assert seen.count("CDN") == sent_to(client, s.cdn) == len(result.image.layers) + 1  # layers and the config
    # And what each log holds, counted here without the module's parsers.
    # (nginx also logs a connection that sent no request, such as a readiness probe: no method, not a request.)
    requests = [line for line in raw["nginx"] if line.split(" ")[1] != "-"]
    by_port = [line.split(" ", 1)[0] for line in requests]
    for server, port in (("registry", s.front), ("CDN", s.cdn), ("seed proxy", s.proxy), ("gateway", s.gateway)):
        assert seen.count(server) == by_port.count(str(port)), server
    assert seen.count("docker-registry") == sum(bool(REGISTRY_ACCESS.match(line)) for line in raw["registry"]) > 0
    served = [line for line in raw["service"] if line.startswith("served\t")]
    assert seen.count("token service") + seen.count("edge") + seen.count("faults") == len(served)
    assert len(seen.served) == len(requests) + seen.count("docker-registry") + len(served)
    # Bytes and Authorization: the CDN sent the blobs, and no request to it carried the header.
    cdn = seen.of("CDN")
    assert sum(row.bytes for row in cdn if row.status == 200) == result.downloaded_bytes
    assert [row.auth for row in cdn] == [False] * len(cdn)
    registry = seen.of("registry")
    assert registry[0].status == 401 and registry[0].auth is False  # the challenge: no token yet
    assert all(row.auth for row in registry if row.status != 401)
    # No query string anywhere: a CDN URL's signature never lands in a row.
    assert all("?" not in row.path and "md5" not in row.path for row in seen.served)
    assert [row.time for row in seen.served] == sorted(row.time for row in seen.served)


def test_the_frame_and_the_filters(open_lab: Lab, tmp_path: Path):
    with open_lab.traffic() as seen:
        regkit.pull(f"{open_lab.front_host}/library/busybox", tmp_path / "b.tar", insecure=True, cache=False)
    frame = seen.frame()
    assert list(frame.columns) == ["time", "server", "method", "path", "status", "bytes", "auth"]
    assert len(frame) == len(seen.served) and str(frame["auth"].dtype) == "boolean"
    assert isinstance(frame["time"].iloc[0], pd.Timestamp)
    assert set(seen.frame("CDN").server) == {"CDN"} and len(seen.frame("CDN")) == seen.count("CDN")
    assert all(row.method == "GET" for row in seen.of(method="GET")) and seen.of("registry", method="HEAD") == tuple(
        row for row in seen.of("registry") if row.method == "HEAD"
    )
    assert sum(seen.servers().values()) == len(seen.served)
    with open_lab.traffic() as quiet:
        pass
    assert quiet.served == () and len(quiet.frame()) == 0


def test_the_seed_proxy_and_the_cache_are_seen_too(hub_lab: Lab, tmp_path: Path):
    sizes = log_sizes(hub_lab)
    client = regkit.Client(endpoints=hub_lab.proxy_endpoints(), insecure=True)
    with hub_lab.traffic() as seen:
        regkit.pull("busybox", tmp_path / "p.tar", client=client, cache=False)
        mirrors = Mirrors.create([hub_lab.cache_url], only=True, insecure=True)
        via_cache = regkit.Client(insecure=True)
        regkit.pull("busybox", tmp_path / "c.tar", mirrors=mirrors, client=via_cache, cache=False)
    raw = appended(hub_lab, sizes)
    assert seen.count("seed proxy") == sent_to(client, hub_lab.settings.proxy) == len(client.transcript)
    assert seen.count("pull-through cache") == sent_to(via_cache, hub_lab.settings.cache) == len(via_cache.transcript)
    assert seen.count("pull-through cache") == sum(bool(REGISTRY_ACCESS.match(line)) for line in raw["cache"])
    # The cache checks no token: whether a request carried one is not in its log, and the row says so.
    assert {row.auth for row in seen.of("pull-through cache")} == {None}
    # The seed proxy logs the path the client asked for, not the one it rewrote it to.
    assert any(row.path.startswith("/docker-blob/registry-v2/") for row in seen.of("seed proxy"))


def test_the_service_logs_each_answer_with_its_body_bytes(open_lab: Lab):
    token_port = open_lab.settings.token
    with open_lab.traffic() as seen:
        # A request line http.server refuses (400) is no request: no row, and the service goes on.
        with socket.create_connection(("127.0.0.1", token_port)) as raw:
            raw.sendall(b"NOT A REQUEST LINE AT ALL\r\n\r\n")
            assert b"Error code: 400" in b"".join(iter(lambda: raw.recv(4096), b""))
        answer = requests.get(f"{open_lab.token_url}?service=regkit-lab-registry&scope=x", timeout=10)
        basic = requests.get(open_lab.token_url, params={"service": "regkit-lab-registry"}, auth=("a", "b"), timeout=10)
    assert (answer.status_code, basic.status_code) == (200, 401)
    rows = seen.of("token service")
    assert [(row.method, row.path, row.status, row.auth) for row in rows] == [
        ("GET", "/token", 200, False),
        ("GET", "/token", 401, True),
    ]
    assert [row.bytes for row in rows] == [len(answer.content), len(basic.content)]
