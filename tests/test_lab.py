"""The Docker-Hub-shaped lab, pulled from directly (open mode) and through the seed's proxy (hub mode)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import regkit
from regkit.lab import Lab
from regkit.lab.cdn import cdn_path, signed_url
from regkit.lab.engine import DockerEngine
from regkit.lab.images import SampleImage
from regkit.oci.redact import fingerprint

from .helpers import checkout_env

# Docker-Hub-style names (``busybox`` means library/busybox) of every public sample image.
PUBLIC = [
    ("busybox", "latest"),
    ("busybox", "docker"),
    ("busybox", "multiarch"),
    ("busybox", "manifest-list"),
    ("whiteout", "latest"),
    ("layers", "latest"),
]


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m regkit ARGS`` with a clean proxy environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") and "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, "-m", "regkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=checkout_env({**base, **(env or {})}),
        cwd=cwd,
        timeout=300,
    )


def load_and_check(engine: DockerEngine, tar: Path, name: str, runnable: bool) -> None:
    """docker load the tar; the image gets ``name`` and, if runnable, says hello."""
    assert name in engine.run("load", "-i", str(tar), timeout=300).stdout
    if runnable:
        assert engine.run("run", "--rm", "--network", "none", name, "echo", "hello").stdout == "hello\n"


def cdn_lines(lab: Lab) -> list[str]:
    """Access-log lines of requests that reached the CDN."""
    lines = (lab.state_dir / "nginx" / "access.log").read_text().splitlines()
    return [line for line in lines if line.startswith(f"{lab.settings.cdn} ")]


@pytest.mark.parametrize("name,tag", PUBLIC)
def test_open_mode_direct_pull_loads(open_lab, engine, tmp_path, name, tag):
    ref = f"{open_lab.front_host}/library/{name}:{tag}"
    result = cli("pull", ref, "-o", str(tmp_path / "o.tar"), "--insecure-registry", "-q")
    assert result.returncode == 0, result.stderr
    load_and_check(engine, tmp_path / "o.tar", ref, runnable=True)


@pytest.mark.parametrize("name,tag", PUBLIC)
def test_hub_mode_through_the_seed_proxy_like_the_seed_command(hub_lab, engine, tmp_path, name, tag):
    mirror = f"--mirror={hub_lab.proxy_url}/docker-registry"
    result = cli(
        "pull", f"{name}:{tag}", mirror, "--insecure-registry", "-o", "x.tar", env=hub_lab.proxy_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    load_and_check(engine, tmp_path / "x.tar", f"{name}:{tag}", runnable=True)


def test_private_image_needs_the_lab_user(hub_lab, engine, tmp_path):
    args = [
        "pull",
        "private/busybox",
        f"--mirror={hub_lab.proxy_url}/docker-registry",
        "--insecure-registry",
        "-o",
        "p.tar",
    ]
    anonymous = cli(*args, env=hub_lab.proxy_env(), cwd=tmp_path)
    assert anonymous.returncode == 1 and "401" in anonymous.stderr and "Traceback" not in anonymous.stderr
    assert not (tmp_path / "p.tar").exists()
    user, password = hub_lab.credentials
    wrong = cli(*args, "-u", user, "--password-stdin", env=hub_lab.proxy_env(), stdin="nope\n", cwd=tmp_path)
    assert wrong.returncode == 1 and "credentials were refused" in wrong.stderr
    good = cli(*args, "-u", user, "--password-stdin", env=hub_lab.proxy_env(), stdin=password + "\n", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert password not in good.stdout + good.stderr
    load_and_check(engine, tmp_path / "p.tar", "private/busybox:latest", runnable=True)


def test_hub_mode_direct_pull_fails_at_the_token_step(hub_lab, tmp_path):
    result = cli("pull", f"{hub_lab.front_host}/library/busybox", "--insecure-registry", cwd=tmp_path)
    realm_host = f"127.0.0.1:{hub_lab.settings.dead_auth}"
    assert result.returncode == 1
    assert realm_host in result.stderr and "DOCKER_AUTH_REVERSE_PROXY" in result.stderr
    assert "token" in result.stderr and list(tmp_path.iterdir()) == []


def test_without_the_blob_proxy_it_fails_at_the_redirect(hub_lab, tmp_path):
    env = {k: v for k, v in hub_lab.proxy_env().items() if k != "DOCKER_BLOB_REVERSE_PROXY"}
    result = cli("pull", "busybox", "--insecure-registry", "--no-cache", env=env, cwd=tmp_path)
    cdn_host = f"127.0.0.1:{hub_lab.settings.dead_cdn}"
    assert result.returncode == 1
    assert cdn_host in result.stderr and "DOCKER_BLOB_REVERSE_PROXY" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_authorization_ever_reaches_the_cdn(hub_lab, tmp_path):
    before = len(cdn_lines(hub_lab))
    client = regkit.Client(endpoints=hub_lab.proxy_endpoints(), insecure=True)
    result = regkit.pull("whiteout", tmp_path / "w.tar", client=client, cache=False)
    hops = [e for e in result.exchanges if "redirect" in e.note]
    assert len(hops) == 4  # config and three layers, each redirected once
    # Through the seed's proxy the CDN hop goes to the same host and port as the registry:
    # exactly where requests itself would have kept the header.
    registry_host = result.exchanges[0].url.split("/")[2]
    assert all(h.url.split("/")[2] == registry_host for h in hops)
    assert all(not any(k.lower() == "authorization" for k, _ in h.request_headers) for h in hops)
    reached = cdn_lines(hub_lab)[before:]
    assert len(reached) == 4 and all(line.endswith("auth=no") for line in reached)


def test_the_cdn_behaves_like_s3_and_checks_signatures(hub_lab):
    blob = hub_lab.samples[0].image.blobs
    digest = next(iter(blob))
    good = signed_url(hub_lab.cdn_url, digest.hex, hub_lab.settings.secret, 60)
    assert requests.get(good, timeout=10).content == blob[digest]
    with_auth = requests.get(good, headers={"Authorization": "Bearer x"}, timeout=10)
    assert with_auth.status_code == 400 and "Only one auth mechanism allowed" in with_auth.text
    tampered = good.replace("md5=", "md5=A")
    assert requests.get(tampered, timeout=10).status_code == 403
    expired = signed_url(hub_lab.cdn_url, digest.hex, hub_lab.settings.secret, 60, now=time.time() - 3600)
    response = requests.get(expired, timeout=10)
    assert response.status_code == 403 and "expired" in response.text
    assert cdn_path(digest.hex).endswith(f"/{digest.hex}/data")


def test_token_is_cached_and_renewed_when_expired(open_lab):
    client = regkit.Client(insecure=True)
    ref = regkit.resolve(f"{open_lab.front_host}/library/busybox:latest")
    token = regkit.get_token(ref, client=client)
    assert token.kind == "bearer" and token.expires_in == 300 and token.issued_at is not None
    assert fingerprint(token.value) in repr(token) and token.value not in repr(token)
    again = regkit.get_token(ref, client=client)
    assert again is token  # from the cache: no second token request
    assert [e.step for e in client.transcript].count("token") == 3  # two probes, one token GET
    stale = dataclasses.replace(token, obtained_at=time.time() - 3600)
    assert len(client.tokens) == 1
    client.tokens.put(stale)
    result = regkit.get_manifest(ref, token=stale, client=client)
    # Compare fingerprints, never values: a failing assert would print the token.
    assert result.token is not stale and fingerprint(result.token.value) != fingerprint(token.value)
    renewal = [e for e in client.transcript if "expired" in e.note]
    assert len(renewal) == 1 and renewal[0].status == 200


def test_a_token_for_another_repository_is_renewed_on_401(open_lab):
    client = regkit.Client(insecure=True)
    busybox = regkit.resolve(f"{open_lab.front_host}/library/busybox:latest")
    whiteout = regkit.resolve(f"{open_lab.front_host}/library/whiteout:latest")
    wrong = regkit.get_token(busybox, client=client)
    result = regkit.get_manifest(whiteout, token=wrong, client=client)
    statuses = [(e.step, e.status, e.attempt) for e in result.exchanges]
    assert statuses == [("manifest", 401, 1), ("token", 200, 1), ("manifest", 200, 2)]
    assert result.token.scope == whiteout.scope


def test_credentials_from_docker_config_and_helper(open_lab, tmp_path, monkeypatch):
    user, password = open_lab.credentials
    config = tmp_path / "docker"
    config.mkdir()
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {open_lab.front_host: {"auth": encoded}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    ref = f"{open_lab.front_host}/private/busybox"
    assert regkit.pull(ref, tmp_path / "a.tar", insecure=True).image.image_id
    # A credential helper, run as docker-credential-<name> get with the server on stdin.
    helper = tmp_path / "bin" / "docker-credential-regkittest"
    helper.parent.mkdir()
    answer = json.dumps({"Username": user, "Secret": password})
    helper.write_text(f"#!/bin/sh\nread server\ncat <<'EOF'\n{answer}\nEOF\n")
    helper.chmod(0o755)
    (config / "config.json").write_text(json.dumps({"credHelpers": {open_lab.front_host: "regkittest"}}))
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    client = regkit.Client(insecure=True)
    assert regkit.pull(ref, tmp_path / "b.tar", client=client).image.image_id
    assert password not in str(client.transcript) and password not in repr(client)
    without = regkit.Client(insecure=True, docker_config=False)
    with pytest.raises(regkit.AuthError):
        regkit.pull(ref, tmp_path / "c.tar", client=without)


def test_http_proxy_is_honoured_and_reported(open_lab, tmp_path, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", open_lab.forward_proxy_url)
    log = open_lab.state_dir / "nginx" / "access.log"
    before = log.read_text().count(f"{open_lab.settings.forward} GET")
    result = regkit.pull(f"{open_lab.front_host}/library/busybox", tmp_path / "f.tar", insecure=True)
    assert all(e.proxy == open_lab.forward_proxy_url for e in result.exchanges)
    assert log.read_text().count(f"{open_lab.settings.forward} GET") - before == len(
        [e for e in result.exchanges if e.method == "GET"]
    )
    shown = cli(
        "pull",
        f"{open_lab.front_host}/library/busybox",
        "--insecure-registry",
        "-o",
        "p.tar",
        cwd=tmp_path,
        env={"HTTP_PROXY": open_lab.forward_proxy_url},
    )
    assert f"through HTTP proxy {open_lab.forward_proxy_url}" in shown.stderr
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = regkit.pull(f"{open_lab.front_host}/library/busybox", tmp_path / "g.tar", insecure=True)
    assert all(e.proxy == "" for e in direct.exchanges)


def test_insecure_skips_tls_checks_for_the_registry_host_only(open_lab, tmp_path):
    registry = regkit.Endpoints.create(registry=f"https://{open_lab.tls_host}", insecure=True)
    client = regkit.Client(endpoints=registry, insecure=True)
    pulled = regkit.pull("library/busybox", tmp_path / "t.tar", client=client)
    assert pulled.exchanges[0].url.startswith(f"https://{open_lab.tls_host}/v2/")
    # The same client, the same self-signed host, but not as the registry: verified, and refused.
    other = regkit.Client(insecure=True)
    other.endpoint(regkit.resolve(f"{open_lab.front_host}/library/busybox"))  # the registry is elsewhere
    with pytest.raises(regkit.TransportError, match="TLS failed"):
        other.send("probe", "GET", f"https://{open_lab.tls_host}/v2/")


def test_lab_cli_status_and_images(hub_lab, samples: list[SampleImage]):
    status = cli("lab", "--dir", str(hub_lab.state_dir), "status")
    assert status.returncode == 0
    assert "hub mode" in status.stdout and "regkit pull busybox --mirror=" in status.stdout
    assert {(s.repository, s.tag) for s in hub_lab.samples} == {(s.repository, s.tag) for s in samples}


def test_the_main_job_runs(tmp_path):
    """The README's main job: lab in hub mode, pull through the seed proxy, docker load, run."""
    done = cli("lab", "demo", "-o", "bb.tar", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Loaded image: busybox:latest" in done.stderr and "echo hello -> hello" in done.stderr
    assert (tmp_path / "bb.tar").is_file()


def test_lab_cli_up_and_down(tmp_path):
    state = str(tmp_path / "cli-lab")
    up = cli("lab", "--dir", state, "up", "--mode", "open")
    try:
        assert up.returncode == 0, up.stderr
        assert "open mode" in up.stdout and "regkit pull" in up.stdout
        assert "pull-through" in up.stdout and "cache pid" in up.stdout  # started by default from the CLI
    finally:
        down = cli("lab", "--dir", state, "down")
    assert down.returncode == 0 and cli("lab", "--dir", state, "status").returncode == 1
    assert not any(Lab(state).running().values())


def test_lab_up_twice_is_refused_and_down_stops_everything(tmp_path):
    lab = Lab(tmp_path / "lab", mode="open").up()
    try:
        pids = lab.running()
        assert all(pids.values())
        with pytest.raises(regkit.LabError, match="already running"):
            Lab(tmp_path / "lab").up()
    finally:
        Lab(tmp_path / "lab").down()
    assert not any(Lab(tmp_path / "lab").running().values())
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
