"""Answers no real registry gives, from a deliberately broken server (a fake, on purpose).

docker-registry never sends a 5 MiB manifest, an endless blob, a redirect loop or an HTML page
as a manifest; proxies and hostile servers do. This small http.server plays that part so the
client's limits and messages can be checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

import regkit
from regkit.http.retry import RetryPolicy
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import Descriptor

from .helpers import serving

BLOB = regkit.Digest.of(b"twelve bytes")


class Hostile(BaseHTTPRequestHandler):
    """Each path is one kind of misbehaviour."""

    server_version, sys_version = "cloudflare", ""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/v2/huge/manifests/"):
            self._send(200, b"{" + b" " * (5 << 20) + b"}", {"Content-Type": mt.OCI_MANIFEST})
        elif path.startswith("/v2/html/manifests/"):
            self._send(502, b"<html><body>502 Bad Gateway</body></html>", {"cf-ray": "abc-AMS"})
        elif path.startswith("/v2/noauth/"):
            self._send(401, b"")
        elif path.startswith("/v2/htmltoken/"):
            realm = f"http://{self.headers['Host']}/token-html"
            self._send(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
        elif path.startswith("/v2/badtoken/") or path.startswith("/v2/ftprealm/"):
            realm = f"http://{self.headers['Host']}/token-newline"
            if path.startswith("/v2/ftprealm/"):
                realm = "ftp://files.example/token?sig=SECRETSIG"
            self._send(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
        elif path == "/token-newline":
            self._send(200, b'{"token": "abc\\nX-Injected: yes"}', {"Content-Type": "application/json"})
        elif path.startswith("/v2/odd-retry/"):
            self._send(503, b"busy", {"Retry-After": "\u00b2", "Content-Length": "4"})
        elif path == "/token-html":
            self._send(200, b"<html>login page</html>", {"Content-Type": "text/html", "Via": "1.1 squid"})
        elif path.startswith("/v2/long/blobs/"):
            self._send(200, b"twelve bytes", {"Content-Length": "99"})
        elif path.startswith("/v2/endless/blobs/"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/v2/loop/blobs/"):
            self._send(307, b"", {"Location": self.path})
        else:
            self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with serving(Hostile) as host:
        yield host


def client() -> regkit.Client:
    return regkit.Client(insecure=True, docker_config=False)


def test_oversized_manifest_is_refused(hostile):
    with pytest.raises(regkit.TransportError, match="larger than the 4194304 bytes"):
        regkit.get_manifest(f"{hostile}/huge:1", client=client())


def test_html_error_page_names_who_answered(hostile):
    with pytest.raises(regkit.UnexpectedResponse, match="HTML/XML page from server: cloudflare, cf-ray: abc-AMS"):
        regkit.get_manifest(f"{hostile}/html:1", client=client())


def test_401_without_a_challenge(hostile):
    with pytest.raises(regkit.AuthError, match="no WWW-Authenticate header"):
        regkit.get_token(f"{hostile}/noauth:1", client=client())


def test_token_service_answering_html(hostile):
    with pytest.raises(regkit.AuthError, match=r"text/html, not JSON.*via: 1.1 squid"):
        regkit.get_token(f"{hostile}/htmltoken:1", client=client())


def test_a_token_that_would_break_the_header_is_refused(hostile):
    with pytest.raises(regkit.AuthError, match="not a valid Bearer credential") as info:
        regkit.get_token(f"{hostile}/badtoken:1", client=client())
    assert "Injected" not in str(info.value)


def test_a_realm_that_is_no_http_url_fails_once_and_clearly(hostile):
    c = client()
    with pytest.raises(regkit.AuthError, match="cannot send the request") as info:
        regkit.get_token(f"{hostile}/ftprealm:1", client=c)
    assert "SECRETSIG" not in str(info.value) and "SECRETSIG" not in str(c.transcript)
    assert [e.attempt for e in c.transcript if e.step == "token" and e.method == "GET"] == [1]


def test_odd_retry_after_digits_do_not_crash(hostile):
    c = regkit.Client(insecure=True, docker_config=False, retry=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(regkit.UnexpectedResponse, match="503"):
        regkit.get_manifest(f"{hostile}/odd-retry:1", token=regkit.Token("none"), client=c)
    assert [e.status for e in c.transcript] == [503, 503]


def test_blobs_longer_than_promised_stop_early(hostile, tmp_path):
    small = Descriptor(mt.OCI_LAYER_GZIP, BLOB, 12)
    token = regkit.Token("none")
    with pytest.raises(regkit.SizeMismatch, match="announces 99 bytes"):
        regkit.fetch_blob(f"{hostile}/long", small, tmp_path, token=token, client=client())
    with pytest.raises(regkit.SizeMismatch, match="longer than the 12 bytes"):
        regkit.fetch_blob(f"{hostile}/endless", small, tmp_path, token=token, client=client())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_redirect_loop_is_bounded(hostile, tmp_path):
    small = Descriptor(mt.OCI_LAYER_GZIP, BLOB, 12)
    with pytest.raises(regkit.UnexpectedResponse, match="more than 5 redirects"):
        regkit.fetch_blob(f"{hostile}/loop", small, tmp_path, token=regkit.Token("none"), client=client())
