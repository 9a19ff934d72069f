"""Answers no real registry gives, from a handler function behind the client's transport seam (a fake, on purpose).

docker-registry never sends a 5 MiB manifest, an endless blob, a redirect loop or an HTML page
as a manifest; proxies and hostile servers do. A handler plays that part through
:class:`regkit.http.mocktransport.MockTransport`, so the real client code (requests included) meets
these answers and its limits and messages can be checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

import regkit
from regkit.http.mocktransport import Answer, MockTransport
from regkit.http.retry import RetryPolicy
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import Descriptor

BLOB = regkit.Digest.of(b"twelve bytes")
SERVER = {"Server": "cloudflare"}


def misbehave(request: requests.PreparedRequest) -> Answer:
    """Each path is one kind of misbehaviour."""
    url = urlsplit(request.url or "")
    path, host = url.path, url.netloc
    if path.startswith("/v2/huge/manifests/"):
        return Answer(200, b"{" + b" " * (5 << 20) + b"}", {"Content-Type": mt.OCI_MANIFEST})
    if path.startswith("/v2/html/manifests/"):
        return Answer(502, b"<html><body>502 Bad Gateway</body></html>", {**SERVER, "cf-ray": "abc-AMS"})
    if path.startswith("/v2/noauth/"):
        return Answer(401)
    if path.startswith("/v2/htmltoken/"):
        return Answer(401, headers={"WWW-Authenticate": f'Bearer realm="http://{host}/token-html",service="s"'})
    if path.startswith("/v2/badtoken/"):
        return Answer(401, headers={"WWW-Authenticate": f'Bearer realm="http://{host}/token-newline",service="s"'})
    if path.startswith("/v2/ftprealm/"):
        realm = "ftp://files.example/token?sig=SECRETSIG"
        return Answer(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
    if path == "/token-newline":
        return Answer(200, b'{"token": "abc\\nX-Injected: yes"}', {"Content-Type": "application/json"})
    if path.startswith("/v2/odd-retry/"):
        return Answer(503, b"busy", {"Retry-After": "\u00b2", "Content-Length": "4"})
    if path == "/token-html":
        return Answer(200, b"<html>login page</html>", {"Content-Type": "text/html", "Via": "1.1 squid"})
    if path.startswith("/v2/long/blobs/"):
        return Answer(200, b"twelve bytes", {"Content-Length": "99"})
    if path.startswith("/v2/endless/blobs/"):
        return Answer(200, (b"x" * 0x4000 for _ in range(64)), {"Transfer-Encoding": "chunked"})
    if path.startswith("/v2/loop/blobs/"):
        return Answer(307, headers={"Location": path})
    return Answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')


@pytest.fixture
def hostile() -> str:
    return "registry.hostile.invalid"


def client(retry: RetryPolicy | None = None) -> regkit.Client:
    """A real client whose transport hands every request to :func:`misbehave`."""
    return regkit.Client(insecure=True, docker_config=False, retry=retry, transport=MockTransport(misbehave))


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
    c = client(retry=RetryPolicy(attempts=2, backoff=0.01))
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


def test_the_seam_runs_the_real_client_code(hostile):
    """Through the seam the client records, redacts and retries as it does on the wire."""
    seen: list[str] = []

    def answer(request: requests.PreparedRequest) -> Answer:
        seen.append(request.headers.get("Authorization", ""))
        return Answer(200, b"{}", [("WWW-Authenticate", "Basic"), ("WWW-Authenticate", "Bearer x")])

    c = regkit.Client(insecure=True, docker_config=False, transport=MockTransport(answer))
    response = c.send("manifest", "GET", f"http://{hostile}/v2/", headers={"Authorization": "Bearer s3cret-value"})
    assert response.read(10, "the body") == b"{}" and seen == ["Bearer s3cret-value"]
    exchange = c.transcript[0]
    assert exchange.status == 200 and exchange.reason == "OK" and exchange.bytes_received == 2
    assert [v for k, v in exchange.response_headers if k == "WWW-Authenticate"] == ["Basic", "Bearer x"]
    assert "s3cret-value" not in str(exchange.request_headers)
