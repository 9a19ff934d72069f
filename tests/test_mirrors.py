"""Mirrors and pull-through caches: real `docker pull`s through the lab's cache, gateway and seed proxy.

One extra Docker engine for the module, with ``registry-mirrors`` changed by a SIGHUP reload between
tests (dockerd reloads mirrors live), so only one more dockerd start is paid.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from regkit.errors import LabError
from regkit.lab import Lab
from regkit.lab.engine import DockerEngine

from .helpers import cli


@pytest.fixture(scope="module")
def mirror_engine(hub_lab: Lab) -> Iterator[DockerEngine]:
    """A private engine whose registry-mirrors each test sets (see DockerEngine.configure)."""
    with tempfile.TemporaryDirectory(prefix="rk-mirror-") as state, DockerEngine(Path(state)) as docker:
        yield docker


def docker_pull(engine: DockerEngine, mirrors: list[str], name: str = "busybox") -> tuple[int, str]:
    """``docker pull NAME`` with these mirrors and no image of that name beforehand: (status, output)."""
    engine.configure(mirrors)
    engine.run("rmi", "--force", name, check=False)
    result = engine.run("pull", name, check=False, timeout=60)
    return result.returncode, result.stdout + result.stderr


def access_log(lab: Lab, port: int) -> list[str]:
    """The lab nginx's access-log lines of the server on ``port``."""
    lines = (lab.state_dir / "nginx" / "access.log").read_text().splitlines()
    return [line for line in lines if line.startswith(f"{port} ")]


def test_the_lab_lists_its_pull_through_cache_and_gateway(hub_lab: Lab):
    assert hub_lab.running()["cache"] is not None
    text = hub_lab.describe()
    assert f"pull-through   {hub_lab.cache_url}" in text and f"gateway        {hub_lab.gateway_url}" in text
    config = (hub_lab.state_dir / "cache" / "config.yml").read_text()
    assert (
        f'remoteurl: "{hub_lab.gateway_url}"' in config
        and (hub_lab.state_dir / "cache" / "config.yml").stat().st_mode & 0o077 == 0
    )


def test_docker_pull_through_the_pull_through_cache(hub_lab: Lab, mirror_engine: DockerEngine):
    before = len((hub_lab.state_dir / "cache" / "registry.log").read_text().splitlines())
    status, output = docker_pull(mirror_engine, [hub_lab.cache_url])
    assert status == 0, output
    assert "docker.io/library/busybox:latest" in output
    served = (hub_lab.state_dir / "cache" / "registry.log").read_text().splitlines()[before:]
    assert any("/v2/library/busybox/manifests/latest" in line and "status=200" in line for line in served)
    # The cache stored what it served: the blobs are on its disk now.
    assert list((hub_lab.state_dir / "cache" / "storage").rglob("data"))
    assert mirror_engine.run("run", "--rm", "busybox", "echo", "hello").stdout.strip() == "hello"


def test_docker_pull_through_the_generated_proxy(hub_lab: Lab, mirror_engine: DockerEngine):
    before = len(access_log(hub_lab, hub_lab.settings.gateway))
    status, output = docker_pull(mirror_engine, [hub_lab.gateway_url])
    assert status == 0, output
    served = access_log(hub_lab, hub_lab.settings.gateway)[before:]
    assert any(" /docker-auth/token " in line for line in served)  # the realm was rewritten to the proxy
    assert any(" /docker-blob/" in line and " 200 " in line for line in served)  # and the blob Location too


def test_docker_pull_through_the_seed_proxy_fails(hub_lab: Lab, mirror_engine: DockerEngine):
    # With its path, the engine refuses the mirror outright.
    with pytest.raises(LabError, match="invalid mirror: path"):
        mirror_engine.configure([f"{hub_lab.proxy_url}/docker-registry"])
    # Without it, /v2/ is not there: the engine falls back to Docker Hub, silently, and names only Hub.
    status, output = docker_pull(mirror_engine, [hub_lab.proxy_url])
    assert status != 0
    assert "registry-1.docker.io" in output and hub_lab.proxy_url not in output


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
