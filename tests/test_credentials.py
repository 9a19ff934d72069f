"""Credentials only where they belong: no ambient netrc or cookies, no passwords in URLs, none over plain HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import regkit
from regkit.errors import INSECURE
from regkit.lab import Lab

from .helpers import every_output


def access_log(lab: Lab, settle: float = 0.0) -> list[str]:
    """Every line of the lab's nginx access log; with ``settle``, once it stopped growing that long.

    nginx writes a line after the response went out, so a client can read the log before its own
    request is in it.
    """
    path = lab.state_dir / "nginx" / "access.log"
    lines = path.read_text().splitlines()
    deadline = time.monotonic() + 5
    while settle and time.monotonic() < deadline:
        time.sleep(settle)
        again = path.read_text().splitlines()
        if again == lines:
            break
        lines = again
    return lines


@pytest.mark.parametrize("ambient", ["netrc", "cookies only"])
def test_no_netrc_password_and_no_cookie_ride_along(hub_lab, tmp_path, monkeypatch, ambient):
    # A netrc entry for the lab's host: requests would send it as Basic, replacing the Bearer token,
    # and to the anonymous token request and the CDN hop alike.
    netrc = tmp_path / "netrc"
    if ambient == "netrc":
        netrc.write_text("machine 127.0.0.1 login ambient password ambient-secret\n")
        netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    before = len(access_log(hub_lab))
    client = regkit.Client(endpoints=hub_lab.proxy_endpoints(), insecure=True)
    result = regkit.pull("whiteout", tmp_path / "w.tar", client=client, cache=False)  # the CDN hop is the point
    # The seed proxy sets a session cookie on every answer; registry and CDN share its host.
    lines = access_log(hub_lab, settle=0.3)[before:]
    through_proxy = [line for line in lines if line.startswith(f"{hub_lab.settings.proxy} ")]
    assert len(through_proxy) >= 6
    assert all(" cookie=no " in line for line in through_proxy), through_proxy
    cdn = [line for line in lines if line.startswith(f"{hub_lab.settings.cdn} ")]
    assert len(cdn) == 4 and all(line.endswith("cookie=no auth=no") for line in cdn)
    sent = [v for e in result.exchanges for k, v in e.request_headers if k.lower() in ("authorization", "cookie")]
    assert not any(v.startswith("Basic") for v in sent) and all(v.startswith("Bearer") for v in sent)


def test_http_proxy_still_applies_without_requests_environment(open_lab, tmp_path: Path, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", open_lab.forward_proxy_url)
    before = len(access_log(open_lab))
    with regkit.Client(insecure=True) as client:
        client.send("probe", "GET", f"http://{open_lab.front_host}/v2/").close()
    lines = access_log(open_lab, settle=0.3)[before:]
    forwarded = [line for line in lines if line.startswith(f"{open_lab.settings.forward} ")]
    assert len(forwarded) == 1


class Answers(BaseHTTPRequestHandler):
    """A registry whose challenge names a realm with ``user:password@`` in it: a fake, on purpose.

    No real registry advertises such a realm; a hostile or misconfigured one can. The server keeps
    the Authorization header each path received, for the test to read.
    """

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        host = self.headers["Host"]
        path = self.path.split("?")[0]
        self.server.seen.append((path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        if path.startswith("/v2/userinfo-realm/") and not self.headers.get("Authorization"):
            realm = f"http://tokenuser:{REALM_PASSWORD}@{host}/token"
            self._send(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
        elif path == "/token":
            self._send(200, b'{"token": "abcdefgh"}', {"Content-Type": "application/json"})
        else:
            self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


REALM_PASSWORD = "realm-pass-4711"


@pytest.fixture(scope="module")
def answers() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("option", ["--mirror", "DOCKER_REGISTRY_REVERSE_PROXY", "DOCKER_AUTH_REVERSE_PROXY"])
def test_credentials_in_an_endpoint_url_are_refused_and_never_shown(registry, tmp_path, option):
    url = f"http://lab:url-secret-99@{registry.host}"
    args = ["pull", f"{registry.host}/library/busybox:latest", "--insecure-registry", "-o", "b.tar"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    if option == "--mirror":
        args += ["--mirror", url]
    else:
        env[option] = url
        args[1] = "busybox"
    result = subprocess.run(
        [sys.executable, "-m", "regkit", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "credentials in it" in result.stderr and "url-secret-99" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(regkit.InvalidOption) as refused:
        regkit.Endpoints(registry=url)
    assert "url-secret-99" not in str(refused.value)


def test_a_realm_with_userinfo_gets_no_basic_header_and_is_redacted(answers):
    host = f"127.0.0.1:{answers.server_address[1]}"
    client = regkit.Client(insecure=True, docker_config=False)
    token = regkit.get_token(f"{host}/userinfo-realm/app:1", client=client)
    assert token.kind == "bearer"
    assert [auth for path, auth in answers.seen if path == "/token"] == [None]
    sent = client.transcript[-1]
    assert "credentials in the URL were not sent" in sent.note
    assert REALM_PASSWORD not in every_output(client)


def test_proxy_credentials_go_to_the_proxy_only_and_are_redacted(open_lab, tmp_path, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = open_lab.forward_proxy_url.replace("http://", "http://corp:proxy-secret-7@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with regkit.Client(insecure=True) as client:
        client.send("probe", "GET", f"http://{open_lab.front_host}/v2/").close()
    # The registry's own challenge answered through the proxy: the proxy took its credentials.
    assert client.transcript[0].status == 401 and client.transcript[0].proxy.startswith("http://corp:<redacted:")
    assert not any(k.lower() == "authorization" for k, _ in client.transcript[0].request_headers)
    assert "proxy-secret-7" not in every_output(client)
    monkeypatch.setenv("HTTP_PROXY", "http://corp:proxy-secret-7@127.0.0.1:1")  # nothing listens there
    with regkit.Client(insecure=True) as broken, pytest.raises(regkit.TransportError) as failed:
        broken.send("probe", "GET", f"http://{open_lab.front_host}/v2/")
    assert "proxy-secret-7" not in every_output(broken, failed.value)


def test_no_password_over_plain_http_to_a_host_nobody_marked_insecure(open_lab, tmp_path):
    # The registry is addressed as localhost and marked insecure; its challenge names the realm
    # http://127.0.0.1:PORT/token, another host, in plain HTTP.
    ref = f"localhost:{open_lab.settings.front}/private/busybox"
    client = regkit.Client(insecure=True, auth=open_lab.credentials, docker_config=False)
    with pytest.raises(regkit.AuthError) as refused:
        regkit.pull(ref, tmp_path / "p.tar", client=client)
    realm_host = f"127.0.0.1:{open_lab.settings.token}"
    assert "plain HTTP" in str(refused.value) and realm_host in str(refused.value)
    assert "insecure=True" in str(refused.value) and refused.value.hint and refused.value.hint.option == INSECURE
    assert [e.url for e in client.transcript if "/token" in e.url] == []  # nothing was sent there
    assert open_lab.settings.password not in every_output(client, refused.value)
    assert list(tmp_path.iterdir()) == []


def test_credentials_sent_to_another_host_show_in_transcript_and_diagnosis(open_lab, tmp_path):
    ref = f"{open_lab.front_host}/private/busybox"
    client = regkit.Client(insecure=True, auth=open_lab.credentials, docker_config=False)
    result = regkit.pull(ref, tmp_path / "p.tar", client=client)
    realm_host = f"127.0.0.1:{open_lab.settings.token}"
    sent = [e for e in result.exchanges if e.credentials_to]
    assert sent and all(e.credentials_to == realm_host and e.credentials_elsewhere for e in sent)
    assert f"credentials sent to {realm_host}, not the registry {open_lab.front_host}" in sent[0].summary()
    entries = client.transcript.to_har()["log"]["entries"]
    assert [e["_credentialsTo"] for e in entries if e["_credentialsElsewhere"]] == [realm_host] * len(sent)
    table = client.transcript.to_dataframe()
    assert table["credentials_elsewhere"].sum() == len(sent)
    # Anonymous requests carry no credentials: nothing is marked.
    anonymous = regkit.Client(insecure=True, docker_config=False)
    regkit.pull(f"{open_lab.front_host}/library/busybox", tmp_path / "b.tar", client=anonymous)
    assert not any(e.credentials_to for e in anonymous.transcript)
    found = regkit.diagnose(ref, insecure=True, auth=open_lab.credentials)
    codes = {f.code: f for f in found.findings}
    assert "credentials-elsewhere" in codes and realm_host in codes["credentials-elsewhere"].message
    clean = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert "credentials-elsewhere" not in {f.code for f in clean.findings}
