"""Mirrors and pull-through caches: real `docker pull`s through the lab's cache, gateway and seed proxy.

One extra Docker engine for the module, with ``registry-mirrors`` changed by a SIGHUP reload between
tests (dockerd reloads mirrors live), so only one more dockerd start is paid.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import regkit
from regkit.diagnosis import Diagnosis
from regkit.diagnosis.findings import host
from regkit.errors import InvalidOption, LabError
from regkit.http.mirrors import Mirrors, attempts
from regkit.lab import Lab
from regkit.lab import imagebuild as ib
from regkit.lab.engine import DockerEngine
from regkit.lab.pullthrough import pull_through_cache
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_image
from regkit.steps.progress import Progress

from .helpers import cli


@pytest.fixture(scope="module")
def mirror_engine(hub_lab: Lab) -> Iterator[DockerEngine]:
    """A private engine whose registry-mirrors each test sets (see DockerEngine.configure)."""
    with tempfile.TemporaryDirectory(prefix="rk-mirror-") as state, DockerEngine(Path(state)) as docker:
        yield docker


def test_the_pull_through_cache_is_an_option(open_lab: Lab):
    assert "cache" not in open_lab.running() and "pull-through" not in open_lab.describe()
    assert f"gateway        {open_lab.gateway_url}" in open_lab.describe()
    with pytest.raises(LabError, match="no pull-through cache"):
        open_lab.cache_url  # noqa: B018


def test_the_lab_lists_its_pull_through_cache_and_gateway(hub_lab: Lab):
    assert hub_lab.running()["cache"] is not None
    text = hub_lab.describe()
    assert f"pull-through   {hub_lab.cache_url}" in text and f"gateway        {hub_lab.gateway_url}" in text
    config = (hub_lab.state_dir / "pullthrough" / "config.yml").read_text()
    assert (
        f'remoteurl: "{hub_lab.gateway_url}"' in config
        and (hub_lab.state_dir / "pullthrough" / "config.yml").stat().st_mode & 0o077 == 0
    )


def test_docker_pull_through_the_pull_through_cache(hub_lab: Lab, mirror_engine: DockerEngine):
    pulled = mirror_engine.pull("busybox", mirrors=[hub_lab.cache_url], watch=hub_lab)
    assert pulled.ok and pulled.status == 0, pulled.output
    assert "docker.io/library/busybox:latest" in pulled.output and pulled.mirrors == (hub_lab.cache_url,)
    assert 0 < pulled.seconds < 120 and pulled.summary.startswith(f"docker pull busybox via {hub_lab.cache_url}: exit")
    # The engine asked the cache only; the cache asked the gateway, with its own credentials.
    cache = pulled.traffic.of("pull-through cache")
    assert any(row.path.startswith("/v2/library/busybox/manifests/") and row.status == 200 for row in cache)
    assert any(row.path == "/docker-auth/token" and row.auth for row in pulled.traffic.of("gateway"))
    # The cache stored what it served: the blobs are on its disk now.
    assert list((hub_lab.state_dir / "pullthrough" / "storage").rglob("data"))
    assert mirror_engine.run("run", "--rm", "busybox", "echo", "hello").stdout.strip() == "hello"
    # The cache holds the credentials: the private image comes through it without any docker login.
    private = mirror_engine.pull("private/busybox", mirrors=[hub_lab.cache_url])
    assert private.ok and private.traffic is None, private.output
    # Every image went before that pull: busybox, pulled and run just now, is not there any more.
    assert mirror_engine.run("images", "--format", "{{.Repository}}").stdout.split() == ["private/busybox"]


def test_docker_pull_through_the_generated_proxy(hub_lab: Lab, mirror_engine: DockerEngine):
    pulled = mirror_engine.pull("busybox", mirrors=[hub_lab.gateway_url], watch=hub_lab)
    assert pulled.ok, pulled.output
    served = pulled.traffic.of("gateway")
    assert any(row.path == "/docker-auth/token" for row in served)  # the realm was rewritten to the proxy
    assert any(row.path.startswith("/docker-blob/") and row.status == 200 for row in served)  # and the Location


def test_docker_pull_through_the_seed_proxy_fails(hub_lab: Lab, mirror_engine: DockerEngine):
    # With its path, the engine refuses the mirror outright.
    with pytest.raises(LabError, match="invalid mirror: path"):
        mirror_engine.configure([f"{hub_lab.proxy_url}/docker-registry"])
    # Without it, /v2/ is not there: the engine falls back to Docker Hub, silently, and names only Hub.
    pulled = mirror_engine.pull("busybox", mirrors=[hub_lab.proxy_url], watch=hub_lab)
    assert pulled.status != 0 and not pulled.ok
    assert "registry-1.docker.io" in pulled.output and hub_lab.proxy_url not in pulled.output
    seen = pulled.traffic.of("seed proxy")
    assert seen[0].path == "/v2/" and {row.status for row in seen} == {404}


def test_mirrors_are_tried_in_order_and_the_transcript_shows_each(hub_lab: Lab, tmp_path: Path):
    # The seed proxy has no /v2/ at its root: the first mirror fails, the cache answers.
    har = tmp_path / "pull.har"
    args = ["pull", "busybox", "-o", "bb.tar", "--insecure-registry", "--transcript", str(har)]
    result = cli(*args, "--mirror", hub_lab.proxy_url, "--mirror", hub_lab.cache_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"mirror 1/2 {hub_lab.proxy_url} failed" in result.stderr
    assert f"mirror 2/2 {hub_lab.cache_url} answered" in result.stderr
    notes = [entry["comment"] for entry in json.loads(har.read_text())["log"]["entries"] if entry.get("comment")]
    assert any("mirror 1/2" in note and "failed" in note for note in notes)
    assert any("mirror 2/2" in note and "answered" in note for note in notes)
    assert (tmp_path / "bb.tar").is_file()


def test_a_failing_mirror_falls_back_to_the_registry_unless_mirror_only(hub_lab: Lab, tmp_path: Path):
    started = time.monotonic()
    fallback = cli("pull", "busybox", "--insecure-registry", "--mirror", hub_lab.proxy_url, cwd=tmp_path)
    assert fallback.returncode != 0
    # The mirror's error is reported; Docker Hub (no network here) was tried too, and failed fast.
    assert f"mirror 1/1 {hub_lab.proxy_url} failed with this" in fallback.stderr
    assert "the registry registry-1.docker.io (fallback) failed too" in fallback.stderr
    assert time.monotonic() - started < 30
    only = cli("pull", "busybox", "--insecure-registry", "--mirror", hub_lab.proxy_url, "--mirror-only", cwd=tmp_path)
    assert only.returncode != 0 and "(fallback)" not in only.stderr


def test_daemon_json_mirrors_and_insecure_registries(hub_lab: Lab, tmp_path: Path):
    config = tmp_path / "daemon.json"
    mirrors = [hub_lab.proxy_url, hub_lab.gateway_url]
    config.write_text(json.dumps({"registry-mirrors": mirrors, "insecure-registries": ["127.0.0.0/8"]}))
    result = cli("pull", "busybox", "-o", "bb.tar", "--daemon-config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"mirror 2/2 {hub_lab.gateway_url} answered" in result.stderr
    both = cli("pull", "busybox", "--daemon-config", str(config), "--mirror", hub_lab.cache_url, cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
    config.write_text(json.dumps({"registry-mirrors": "http://one"}))
    bad = cli("pull", "busybox", "--daemon-config", str(config), cwd=tmp_path)
    assert bad.returncode == 2 and "must be a list of strings" in bad.stderr


def codes(result: Diagnosis) -> list[str]:
    return [f.code for f in result.findings]


def push(registry: str, repository: str, image: ib.BuiltImage, auth: tuple[str, str] | None = None) -> None:
    """Push ``image`` as ``repository:latest`` straight to a registry (the lab's: as the lab user)."""
    with regkit.Client(insecure=True, auth=auth, docker_config=False) as client:
        push_image(client, regkit.resolve(f"{registry}/{repository}:latest"), image)


def small_image(text: str, created: str | None = None) -> ib.BuiltImage:
    return ib.build_image([(ib.tar_layer([ib.file("etc/release", text.encode())]), "gzip")], created=created)


def via(url: str) -> regkit.Endpoints:
    return regkit.Endpoints.create(registry=url, insecure=True)


def test_diagnose_says_why_the_seed_proxy_fails_as_a_mirror(hub_lab: Lab, tmp_path: Path):
    # As a client would be told: the path, and no realm or Location rewriting.
    with_path = regkit.diagnose("busybox", endpoints=via(f"{hub_lab.proxy_url}/docker-registry"), insecure=True)
    assert {"realm-unreachable", "mirror-url-has-path", "mirror-silent-fallback"} <= set(codes(with_path))
    auth_only = regkit.Endpoints.create(
        registry=f"{hub_lab.proxy_url}/docker-registry", auth=f"{hub_lab.proxy_url}/docker-auth/token", insecure=True
    )
    assert "cdn-unreachable" in codes(regkit.diagnose("busybox", endpoints=auth_only, insecure=True))
    # As the engine would use it (no path allowed): nothing at /v2/, and the engine moves on silently.
    root = regkit.diagnose("busybox", endpoints=via(hub_lab.proxy_url), insecure=True)
    assert "mirror-silent-fallback" in codes(root) and "mirror-url-has-path" not in codes(root)
    # Through the generated proxy nothing is wrong.
    assert regkit.diagnose("busybox", endpoints=via(hub_lab.gateway_url), insecure=True).ok
    command = cli(
        "diagnose", "busybox", "--insecure-registry", "--mirror", f"{hub_lab.proxy_url}/docker-registry", cwd=tmp_path
    )
    assert command.returncode == 1 and "mirror-url-has-path" in command.stdout and "realm-unreachable" in command.stdout


def test_a_mirror_serving_an_older_image_for_a_tag(open_lab: Lab, tmp_path: Path):
    upstream = f"127.0.0.1:{open_lab.settings.registry}"
    push(upstream, "mirrortest/app", small_image("new\n", "2026-11-01T00:00:00Z"), open_lab.credentials)
    with RegistryServer(tmp_path / "stale") as stale:
        push(stale.host, "mirrortest/app", small_image("old\n", "2025-01-01T00:00:00Z"))
        result = regkit.diagnose(f"{open_lab.front_host}/mirrortest/app", endpoints=via(stale.url), insecure=True)
        assert "mirror-stale-tag" in codes(result), result
        found = next(f for f in result.findings if f.code == "mirror-stale-tag")
        assert "the mirror's copy is older" in found.message and "2025-01-01" in found.message
        assert {host(e.url) for e in found.evidence} == {stale.host, open_lab.front_host}
        # The same tag at the same digest is no finding.
        push(stale.host, "mirrortest/app", small_image("new\n", "2026-11-01T00:00:00Z"))
        fresh = regkit.diagnose(f"{open_lab.front_host}/mirrortest/app", endpoints=via(stale.url), insecure=True)
        assert fresh.ok and "mirror-stale-tag" not in codes(fresh)


def test_a_pull_through_cache_without_upstream_credentials(open_lab: Lab, tmp_path: Path):
    ref = f"{open_lab.front_host}/private/busybox"
    with pull_through_cache(tmp_path / "bare", f"http://{open_lab.front_host}") as bare:
        result = regkit.diagnose(ref, endpoints=via(bare.url), insecure=True, auth=open_lab.credentials)
        assert "pull-through-without-credentials" in codes(result) and "broken-proxy" not in codes(result)
        # Public images pass through the same cache.
        assert regkit.diagnose(f"{open_lab.front_host}/library/busybox", endpoints=via(bare.url), insecure=True).ok
    with pull_through_cache(
        tmp_path / "lab-user", f"http://{open_lab.front_host}", credentials=open_lab.credentials
    ) as cache:
        assert regkit.diagnose(ref, endpoints=via(cache.url), insecure=True).ok


def test_a_mirror_of_library_names_only(open_lab: Lab):
    push(f"127.0.0.1:{open_lab.settings.registry}", "team/tool", small_image("tool\n"), open_lab.credentials)
    ref = f"{open_lab.front_host}/team/tool"
    result = regkit.diagnose(ref, endpoints=via(open_lab.fault_url("library-only")), insecure=True)
    assert "mirror-library-only" in codes(result) and "broken-proxy" not in codes(result)
    assert regkit.diagnose(ref, endpoints=via(open_lab.fault_url("ok")), insecure=True).ok


def test_a_mirror_slow_enough_for_the_engine_to_fall_back(open_lab: Lab):
    slow = regkit.diagnose(
        "busybox", endpoints=via(open_lab.fault_url("slow")), insecure=True, fetch_config=False, engine_timeout=1.0
    )
    found = next(f for f in slow.findings if f.code == "mirror-slow")
    assert "waits 1 s" in found.message and found.evidence[0].time_to_headers > 1.0
    fast = regkit.diagnose(
        "busybox", endpoints=via(open_lab.fault_url("ok")), insecure=True, fetch_config=False, engine_timeout=1.0
    )
    assert "mirror-slow" not in codes(fast)


def test_diagnose_takes_each_mirror_in_turn(hub_lab: Lab, tmp_path: Path):
    args = ["diagnose", "busybox", "--insecure-registry", "--head-only"]
    result = cli(*args, "--mirror", hub_lab.proxy_url, "--mirror", hub_lab.gateway_url, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    first, second = result.stdout.split(f"== mirror 2/2 {hub_lab.gateway_url}")
    assert "== mirror 1/1" not in first and f"== mirror 1/2 {hub_lab.proxy_url}" in first
    assert "mirror-silent-fallback" in first and "PROBLEMS FOUND" in first
    assert "OK" in second and "mirror-silent-fallback" not in second


def test_routes_follow_the_engine_rules(tmp_path: Path):
    mirrors = Mirrors.create(["https://m1.example", "m2.example:5000"], insecure_registries=["m2.example:5000"])
    base = regkit.Endpoints.from_env({})
    hub = mirrors.routes(regkit.resolve("busybox"), base)
    assert [r.label for r in hub] == [
        "mirror 1/2 https://m1.example",
        "mirror 2/2 https://m2.example:5000",
        "the registry registry-1.docker.io (fallback)",
    ]
    assert [r.endpoints.insecure for r in hub] == [False, True, False] and hub[2].endpoints.registry is None
    assert len(Mirrors.create(["m1.example"], only=True).routes(regkit.resolve("busybox"), base)) == 1
    # Another registry's names never go to Docker Hub mirrors.
    other = mirrors.routes(regkit.resolve("quay.io/x/y"), base)
    assert [r.endpoints for r in other] == [base]
    assert Mirrors(insecure_registries=("10.0.0.0/8",)).is_insecure("https://10.1.2.3:5000")
    with pytest.raises(InvalidOption, match="needs at least one mirror"):
        Mirrors.create([], only=True)
    (tmp_path / "daemon.json").write_text("{not json")
    with pytest.raises(InvalidOption, match="not JSON"):
        Mirrors.from_daemon_config(tmp_path / "daemon.json")


def test_pull_with_mirrors_in_python_leaves_the_client_as_configured(hub_lab: Lab, tmp_path: Path):
    configured = regkit.Endpoints.create(registry=hub_lab.cache_url, insecure=True)
    mirrors = Mirrors.create([hub_lab.proxy_url, hub_lab.gateway_url], insecure=True)
    with regkit.Client(endpoints=configured, insecure=True) as client:
        result = regkit.pull("busybox", tmp_path / "bb.tar", client=client, mirrors=mirrors)
        assert result.answered_by == hub_lab.gateway_url
        assert attempts(result.exchanges) == [
            f"mirror 1/2 {hub_lab.proxy_url} failed: "
            + next(a for a in attempts(result.exchanges) if "failed" in a).split("failed: ", 1)[1],
            f"mirror 2/2 {hub_lab.gateway_url} answered",
        ]
        assert all(
            hub_lab.gateway_url in e.url for e in result.exchanges if e.step == "blob" and "redirect" not in e.note
        )
        assert client.endpoints == configured


def test_several_mirrors_leave_other_registries_alone(open_lab: Lab, tmp_path: Path):
    # Like registry-mirrors: only Docker Hub names go to them (both would refuse the connection).
    ref = f"{open_lab.front_host}/library/busybox"
    dead = ["--mirror", "http://127.0.0.1:1", "--mirror", "http://127.0.0.1:2"]
    result = cli("pull", ref, "-o", "bb.tar", "--insecure-registry", *dead, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # A single --mirror keeps its old meaning: it is used for any reference, with no fallback.
    single = cli("pull", ref, "-o", "bb.tar", "--insecure-registry", "--mirror", "http://127.0.0.1:1", cwd=tmp_path)
    assert single.returncode == 1 and "127.0.0.1:1 refused" in single.stderr


class InterruptAtToken(Progress):
    """Ctrl-C as the first route has its token: discovery is mid-way, the route not yet answered."""

    def step(self, name: str, detail: str) -> None:
        if name == "token":
            raise KeyboardInterrupt


def test_a_ctrl_c_mid_discovery_leaves_the_client_as_configured(hub_lab: Lab, tmp_path: Path):
    configured = regkit.Endpoints.create(registry=hub_lab.cache_url, insecure=True)
    mirrors = Mirrors.create([hub_lab.gateway_url], insecure=True)
    with regkit.Client(endpoints=configured, docker_config=False) as client:
        with pytest.raises(KeyboardInterrupt):
            regkit.pull("busybox", tmp_path / "bb.tar", client=client, mirrors=mirrors, progress=InterruptAtToken())
        assert client.endpoints == configured  # not pointed at the mirror
        assert any(hub_lab.gateway_url in e.url for e in client.transcript)  # the mirror was being asked


class MeetAtToken(Progress):
    """Both pulls reach their token before either goes on: each route is set before the other's manifest."""

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def step(self, name: str, detail: str) -> None:
        if name == "token":
            self.barrier.wait(timeout=60)


def test_two_threads_pull_through_different_mirrors_on_one_client(hub_lab: Lab, tmp_path: Path):
    barrier = threading.Barrier(2)
    routes = {"gateway": hub_lab.gateway_url, "cache": hub_lab.cache_url}
    with regkit.Client(insecure=True, docker_config=False) as client:
        configured = client.endpoints

        def pull(name: str) -> regkit.PullResult:
            mirrors = Mirrors.create([routes[name]], only=True, insecure=True)
            out = tmp_path / f"{name}.tar"
            return regkit.pull(
                "busybox", out, client=client, mirrors=mirrors, cache=False, progress=MeetAtToken(barrier)
            )

        with ThreadPoolExecutor(2) as pool:
            results = dict(zip(routes, pool.map(pull, routes), strict=True))
        assert client.endpoints == configured
    for name, result in results.items():
        assert result.answered_by == routes[name]
        sent = [e.url for e in result.exchanges if e.step in ("manifest", "blob") and "redirect" not in e.note]
        assert sent and all(url.startswith(routes[name]) for url in sent), (name, sent)
