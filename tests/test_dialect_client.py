"""The client against other registries' dialects: identity tokens, 60 s tokens, storage hops, denials, deadlines."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import regkit
from regkit.errors import AccessDenied, TransportError
from regkit.http.credentials import NULL_USER
from regkit.http.transport import Transport
from regkit.lab.dialectlab import DialectLab
from regkit.oci.manifest import Descriptor

from .helpers import Canned, cli, serving, started_dialect_labs


class Drip(Canned):
    """Answers every request with interim responses (or a header a line at a time) that never end.

    No registry does this on purpose; a broken proxy or a hostile server can, and no real server can
    be made to: a hand-written socket server, on purpose. It stops after 30 s or once the client hangs up.
    """

    def do_GET(self) -> None:
        first, line = (
            (b"", b"HTTP/1.1 100 Continue\r\n\r\n")
            if "/continue" in self.path
            else (b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n")
        )
        self.close_connection = True
        give_up = time.monotonic() + 30
        try:
            self.wfile.write(first)
            while time.monotonic() < give_up:
                self.wfile.write(line)
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client cut it off: the point of the test

    def do_CONNECT(self) -> None:
        self.do_GET()


def _timed_send(url: str, timeout: tuple[float, float]) -> tuple[BaseException | None, float]:
    """Send ``url`` on a thread (old code would wait forever); the error and the seconds it took."""
    outcome: list[BaseException | None] = []
    transport = Transport(timeout=timeout)

    def run() -> None:
        try:
            transport.send("probe", "GET", url).close()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(15)
    took = time.monotonic() - start
    transport.close()
    assert outcome, f"the request was still waiting for its headers after {took:.0f} s"
    return outcome[0], took


@pytest.mark.parametrize("path", ["/continue", "/headers"])
def test_headers_that_never_finish_are_cut_off_at_the_budget(path):
    with serving(Drip) as host:
        error, took = _timed_send(f"http://{host}{path}", (1.0, 1.0))
    assert isinstance(error, TransportError), error
    assert error.kind == "header-timeout"
    assert host in error.message and "within 2 s" in error.message, error.message
    if path == "/continue":
        assert "interim 1xx" in error.message
    assert error.exchange is not None and error.exchange.error == error.message
    assert "timeout" in (error.hint or "")
    assert 1.9 < took < 5, took


def test_a_proxy_dripping_its_answer_to_connect_is_cut_off(monkeypatch):
    with serving(Drip) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://{proxy}")
        error, took = _timed_send("https://registry.example.invalid/v2/", (1.0, 1.0))
    assert isinstance(error, TransportError) and error.kind == "header-timeout", error
    assert "did not finish its answer to CONNECT) within 2 s" in error.message, error.message
    assert error.exchange is not None and error.exchange.proxy == f"http://{proxy}"
    assert 1.9 < took < 5, took


def test_the_command_line_cuts_off_a_server_dripping_100_continue(tmp_path):
    # The case: `regkit pull` waited forever; now connect (10 s default) + --timeout 1.
    with serving(Drip) as host:
        start = time.monotonic()
        done = cli(
            "pull", f"{host}/continue/app:1", "-o", "o.tar", "--insecure-registry", "--timeout", "1", cwd=tmp_path
        )
        took = time.monotonic() - start
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{host} sent no complete response headers within 11 s" in done.stderr, done.stderr
    assert took < 20


def test_interim_responses_within_the_budget_are_fine():
    class Brief(Canned):
        def do_GET(self) -> None:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 3)
            self.answer(200, b"ok", {"Content-Type": "text/plain"})

    with serving(Brief) as host:
        error, _ = _timed_send(f"http://{host}/", (1.0, 1.0))
    assert error is None


def test_the_deadline_leaves_the_connection_pool_working(registry):
    # A real registry over the same transport: keep-alive connections, several requests, no watchdog firing.
    transport = Transport(timeout=(0.5, 0.5))
    try:
        for _ in range(20):
            response = transport.send("probe", "GET", f"http://{registry.host}/v2/")
            assert response.status == 200
            response.read(1 << 16, "the body")
        time.sleep(1.2)  # past every deadline: a stale watch must not shut a pooled socket down
        response = transport.send("probe", "GET", f"http://{registry.host}/v2/")
        assert response.status == 200 and response.exchange.attempt == 1
        response.close()
    finally:
        transport.close()


# -- identity tokens, denials and token lifetimes against the lab's dialects -------------------------------

PRIVATE = "private/busybox:latest"


@pytest.fixture(scope="module")
def dialects(tmp_path_factory: pytest.TempPathFactory, registry) -> Iterator[dict[str, DialectLab]]:
    """The dialect labs these tests use, in front of the session's registry."""
    with started_dialect_labs(tmp_path_factory, registry, ("acr", "ghcr", "gar", "ecr"), "client") as labs:
        yield labs


def pull_private(lab: DialectLab, cwd: Path, config_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``regkit pull`` of the lab's private image into ``cwd/o.tar``, with ``config_dir`` as ``DOCKER_CONFIG``."""
    return cli(
        "pull",
        f"{lab.registry}/{PRIVATE}",
        "-o",
        "o.tar",
        "--insecure-registry",
        *options,
        cwd=cwd,
        env={"DOCKER_CONFIG": str(config_dir)},
    )


def docker_config(home: Path, monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as ``$DOCKER_CONFIG/config.json`` in ``home`` and point HOME and DOCKER_CONFIG at it."""
    folder = home / ".docker"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(doc))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def identity_entry(user: str, token: str) -> dict[str, str]:
    """What ``az acr login`` leaves in ``auths``: the user with an empty password, and the identity token."""
    return {"auth": base64.b64encode(f"{user}:".encode()).decode(), "identitytoken": token}


def token_requests(client: regkit.Client, realm: str) -> list[Any]:
    """The client's requests to the token service."""
    return [e for e in client.transcript if e.url.split("?")[0] == realm]


def test_identity_token_in_config_json_pulls_from_acr(dialects, tmp_path, monkeypatch):
    lab = dialects["acr"]
    docker_config(
        tmp_path / "home", monkeypatch, {"auths": {lab.registry: identity_entry(NULL_USER, lab.identity_token)}}
    )
    with regkit.Client(insecure=True) as client:
        result = regkit.pull(f"{lab.registry}/{PRIVATE}", tmp_path / "o.tar", client=client, cache=False)
        asked = token_requests(client, lab.realm)
        shown = "\n".join(
            [str(client.transcript), client.transcript.to_jsonl(), json.dumps(client.transcript.to_har())]
        )
        shown += "\n".join(e.to_curl() for e in client.transcript) + repr(
            client.credentials_for(regkit.resolve(f"{lab.registry}/x"))
        )
    assert result.image.path.stat().st_size > 1_000_000
    assert asked and {(e.method, e.status) for e in asked} == {("POST", 200)}
    assert not any(k.lower() == "authorization" for e in asked for k, _ in e.request_headers)
    form = dict(asked[0].request_form)
    assert form["grant_type"] == "refresh_token" and form["client_id"] == "regkit"
    assert form["service"] == lab.service and form["scope"] == "repository:private/busybox:pull"
    assert form["refresh_token"].startswith("<redacted:")
    assert '--data-urlencode "refresh_token=${REFRESH_TOKEN}"' in asked[0].to_curl()
    assert all(e.credentials_to == lab.registry for e in asked)
    assert lab.identity_token not in shown, shown[shown.find(lab.identity_token) - 300 :][:400]
    assert "identity_token='<redacted:" in shown


def test_identity_token_from_a_credential_helper_pulls_from_acr(dialects, tmp_path, monkeypatch):
    lab = dialects["acr"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-labacr"
    answer = json.dumps({"ServerURL": lab.registry, "Username": "<token>", "Secret": lab.identity_token})
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s' '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    folder = docker_config(tmp_path / "home", monkeypatch, {"credHelpers": {lab.registry: "labacr"}})
    done = pull_private(lab, tmp_path, folder, "--no-cache")  # PATH (the helper's) is set in this process
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.tar").stat().st_size > 1_000_000
    assert lab.identity_token not in done.stdout + done.stderr
    posts = [line for line in lab.access_log.read_text().splitlines() if " POST /oauth2/token " in line]
    assert posts and all(" 200 " in line for line in posts), posts


def test_a_realm_that_takes_no_post_gets_the_identity_token_as_basic_get(dialects, tmp_path, monkeypatch):
    # Artifact Registry's /v2/token answers POST with 405: as containerd does, GET with Basic follows.
    lab = dialects["gar"]
    docker_config(tmp_path / "home", monkeypatch, {"auths": {lab.registry: identity_entry(lab.username, lab.password)}})
    with regkit.Client(insecure=True) as client:
        token = regkit.get_token(f"{lab.registry}/{PRIVATE}", client=client)
        asked = token_requests(client, lab.realm)
    assert [(e.method, e.status) for e in asked] == [("POST", 405), ("GET", 200)]
    assert "trying GET" in asked[0].note and "Basic password" in asked[1].note
    assert [e.method for e in token.exchanges[1:]] == ["POST", "GET"]


def test_a_wrong_identity_token_is_refused_as_sent(dialects, tmp_path, monkeypatch):
    lab = dialects["acr"]
    entry = identity_entry(NULL_USER, lab.expired_password())
    docker_config(tmp_path / "home", monkeypatch, {"auths": {lab.registry: entry}})
    with regkit.Client(insecure=True) as client, pytest.raises(AccessDenied) as denied:
        regkit.get_token(f"{lab.registry}/{PRIVATE}", client=client)
    assert denied.value.credentials_sent is True
    assert f"{lab.registry} refused the identity token" in denied.value.message
    assert entry["identitytoken"] not in str(denied.value) + repr(denied.value.exchange)


@pytest.mark.parametrize(
    "name,words",
    [
        ("ghcr", "requested access to the resource is denied"),
        ("gar", 'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource'),
        ("ecr", "wants a username and password (HTTP Basic)"),
    ],
)
def test_anonymous_denial_says_nothing_was_sent_and_how_to_log_in(dialects, tmp_path, monkeypatch, name, words):
    lab = dialects[name]
    docker_config(tmp_path / "home", monkeypatch, {})
    with regkit.Client(insecure=True) as client, pytest.raises(AccessDenied) as denied:
        regkit.pull(f"{lab.registry}/{PRIVATE}", tmp_path / "o.tar", client=client, cache=False)
    error = denied.value
    assert error.credentials_sent is False
    assert words in error.message and "no credentials were sent" in error.message, error.message
    assert "refused" not in error.message.replace("refuses", "")
    assert f"docker login {lab.registry}" in (error.hint or "") and "auth=(user, password)" in (error.hint or "")
    done = pull_private(lab, tmp_path, tmp_path / "home" / ".docker")
    assert done.returncode == 1
    assert "-u USER --password-stdin" in done.stderr and f"docker login {lab.registry}" in done.stderr, done.stderr
    assert "credential helper" in done.stderr and "Traceback" not in done.stderr


def test_refused_credentials_are_said_to_be_refused(dialects, tmp_path):
    lab = dialects["ghcr"]
    auth = regkit.Credentials(lab.username, "not-the-password")
    with regkit.Client(insecure=True, auth=auth, docker_config=False) as client, pytest.raises(AccessDenied) as denied:
        regkit.get_token(f"{lab.registry}/{PRIVATE}", client=client)
    assert denied.value.credentials_sent is True
    assert f"{lab.registry} refused the password of {lab.username!r}" in denied.value.message


def test_a_token_without_expires_in_lives_60_s_and_says_so(dialects):
    lab = dialects["ghcr"]
    with regkit.Client(insecure=True, auth=lab.credentials, docker_config=False) as client:
        token = regkit.get_token(f"{lab.registry}/{PRIVATE}", client=client)
    assert token.expires_in == 60 and token.expires_assumed
    assert "expires_in=60 (assumed: the answer had no expires_in)" in repr(token)
    assert "assumed" in token._repr_html_()
    assert 55 < (token.seconds_left() or 0) <= 60


# -- signed URLs that expire, and what storage hosts refuse ------------------------------------------------

BLOB_BODY = b"a blob behind an expiring signed URL"
BLOB = regkit.Digest.of(BLOB_BODY)
EXPIRED_XML = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


class Expiring(Canned):
    """A registry whose first signed URL for a blob has expired by the time it is used, and its storage.

    A hand-written server on purpose: the lab's storage signs for 20 minutes, and no real server can
    be made to hand out a URL that expires between the redirect and the GET. Like Quay, the 302
    carries Docker-Content-Digest and its Location is relative (same host, as Artifact Registry's);
    like S3, the storage refuses HEAD on a GET-signed URL, answers without Docker-Content-Digest,
    and an expired URL with 403 AccessDenied. ``/v2/stale/`` hands out expired URLs only.
    """

    asked: ClassVar[dict[str, int]] = {}
    seen: ClassVar[list[tuple[str, str, bool]]] = []

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        Expiring.seen.append((self.command, path, "Authorization" in self.headers))
        if "/manifests/" in path:
            self.answer(200, b"{}", {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        elif path.endswith(f"/blobs/{BLOB}"):
            count = Expiring.asked[path] = Expiring.asked.get(path, 0) + 1
            fresh = count > 1 and not path.startswith("/v2/stale/")
            location = f"/storage/data?X-Amz-Expires=600&X-Amz-Signature={'fresh' if fresh else 'stale'}sig{count}"
            self.answer(302, b"", {"Location": location, "Docker-Content-Digest": str(BLOB)})
        elif path == "/storage/data" and self.command == "HEAD":
            self.answer(403, b"", {"Content-Type": "application/xml"})
        elif path == "/storage/data" and "fresh" in query:
            self.answer(200, BLOB_BODY, {"Content-Type": "application/octet-stream"})
        elif path == "/storage/data":
            self.answer(403, EXPIRED_XML, {"Content-Type": "application/xml"})
        else:
            self.answer(404, b"{}")


@pytest.fixture
def expiring() -> Iterator[str]:
    Expiring.asked.clear()
    Expiring.seen.clear()
    with serving(Expiring) as host:
        yield host


def test_an_expired_signed_url_gets_the_registry_asked_once_more(expiring, tmp_path):
    descriptor = Descriptor("application/octet-stream", BLOB, len(BLOB_BODY))
    with regkit.Client(insecure=True, docker_config=False) as client:
        blob = regkit.fetch_blob(f"{expiring}/app/x:1", descriptor, tmp_path / "blobs", client=client)
        exchanges = list(client.transcript)
    assert blob.path.read_bytes() == BLOB_BODY
    asked = [e for e in exchanges if e.url.endswith(f"/blobs/{BLOB}")]
    storage = [e for e in exchanges if "/storage/" in e.url]
    assert [e.status for e in asked] == [302, 302] and [e.status for e in storage] == [403, 200]
    assert "asking the registry again" in storage[0].note
    assert "AccessDenied" in (storage[0].body_preview or "")
    # The storage hop is a GET (the storage refuses HEAD), without Authorization, relative to the registry host.
    assert [m for m, p, _ in Expiring.seen if p == "/storage/data"] == ["GET", "GET"]
    assert not any(auth for _, p, auth in Expiring.seen if p == "/storage/data")


def test_a_storage_that_keeps_refusing_is_asked_twice_and_named(expiring, tmp_path):
    descriptor = Descriptor("application/octet-stream", BLOB, len(BLOB_BODY))
    with regkit.Client(insecure=True, docker_config=False) as client, pytest.raises(regkit.AuthError) as refused:
        regkit.fetch_blob(f"{expiring}/stale/x:1", descriptor, tmp_path / "blobs", client=client)
    assert not isinstance(refused.value, AccessDenied)  # not the registry's refusal: no login advice
    assert Expiring.asked == {f"/v2/stale/x/blobs/{BLOB}": 2}
    assert "AccessDenied: Request has expired" in refused.value.message
    assert f"the storage host {expiring} refused the signed URL" in (refused.value.hint or "")
    assert "stalesig" not in str(refused.value)
    assert not (tmp_path / "blobs" / "sha256" / BLOB.hex).exists()


@pytest.mark.parametrize("name", ["ecr", "acr", "gar"])
def test_an_expired_signed_url_from_a_lab_dialect_is_asked_again(dialects, tmp_path, name):
    # S3 (403 AccessDenied Request has expired), Azure (403 AuthenticationFailed), GAR's relative download (403).
    lab = dialects[name]
    ref = f"{lab.registry}/{PRIVATE}"
    with regkit.Client(insecure=True, auth=lab.credentials, docker_config=False) as client:
        manifest = regkit.get_manifest(ref, client=client)
        lab.expire_signed_urls(1)
        try:
            blob = regkit.fetch_blob(ref, manifest.config, tmp_path / "blobs", token=manifest.token, client=client)
            lab.expire_signed_urls(2)
            with pytest.raises(regkit.AuthError) as refused:
                regkit.fetch_blob(ref, manifest.layers[0], tmp_path / "blobs", token=manifest.token, client=client)
        finally:
            lab.expire_signed_urls(0)
    assert blob.path.is_file()
    refusals = [e for e in blob.exchanges if e.status == 403]
    assert len(refusals) == 1 and "asking the registry again" in refusals[0].note
    assert [e.status for e in blob.exchanges if e.url.endswith(f"/blobs/{manifest.config.digest}")] == [
        lab.spec.redirect_status
    ] * 2
    assert not isinstance(refused.value, AccessDenied) and "refused the signed URL" in (refused.value.hint or "")
    assert not (tmp_path / "blobs" / "sha256" / manifest.layers[0].digest.hex).exists()
