"""A corpus of real secret shapes, pushed by a leaky server through every output regkit has: none survives.

The server is a fake on purpose: no real registry puts JWTs in ``Link`` headers, echoes signed query
strings in error bodies and answers a token request with a form-encoded page all at once; hostile or
misconfigured ones (and the CDNs and gateways in front of them) each do some of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

import regkit
from regkit.oci.manifest import Descriptor
from regkit.oci.redact import redact_header, redact_json, redact_text, redact_url

from .helpers import Canned, every_output, serving

# Real shapes (published examples or random values in the same format), each used once below.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
AWS_SESSION = "FwoGZXIvYXdzEBYaDHqa0AP1a2bCdEfGhIjKsAEXAMPLEsessiontoken"
GCS_SIGNATURE = "3f5b2c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"
AZURE_SIG = "Gh5sT1bN0pQwErTy7uIoP9aSdFgHjKl2ZxCvBnM4k3E="
GITHUB_TOKEN = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngAbCdEf01"
DOCKER_PAT = "dckr_pat_2aBcDeFgHiJkLmNoPqRsTuVwXyZ"
BASIC = "bGFiOmh1bnRlcjItcGFzc3dvcmQ="  # lab:hunter2-password
HMAC_HEX = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
BASE64_BLOB = "c2VjcmV0LWtleS1tYXRlcmlhbC1mb3ItdGVzdGluZw=="
API_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
REFRESH = "rt-5f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c"
# A Docker identity token (an OAuth2 refresh token, opaque: Azure's start "0.A"), known by no shape.
IDENTITY = "0.ARoAv4j5cvGGr0GRqy180BHbR1kJrHq2Ut1Nr0Lnk3QnEW4aAOc.AgABAAEAAAD-DLA3VO7QrddgJg7Wevr"
PASSWORD = "correct-horse-battery-staple"
AKAMAI_HMAC = "6f2d8e1c4b7a9f0e3d5c8b1a4f7e0d3c6b9a2f5e8d1c4b7a0f3e6d9c2b5a8f1e"
PROXY_PASSWORD = "Pr0xy-Pa55w0rd-corp"
CORPUS = [
    JWT,
    AWS_KEY_ID,
    AWS_SIGNATURE,
    AWS_SESSION,
    GCS_SIGNATURE,
    AZURE_SIG,
    GITHUB_TOKEN,
    DOCKER_PAT,
    BASIC,
    HMAC_HEX,
    BASE64_BLOB,
    API_KEY,
    REFRESH,
    IDENTITY,
    PASSWORD,
    AKAMAI_HMAC,
    PROXY_PASSWORD,
]

AWS_QUERY = (
    f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AWS_KEY_ID}%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Date=20240101T000000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    f"&X-Amz-Security-Token={AWS_SESSION}&X-Amz-Signature={AWS_SIGNATURE}"
)
GCS_QUERY = f"X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=600&X-Goog-Signature={GCS_SIGNATURE}"
AZURE_QUERY = f"sv=2021-08-06&se=2030-01-01&sr=b&sp=r&sig={quote(AZURE_SIG, safe='')}"
AKAMAI_QUERY = f"akamai_signature={quote(f'exp=1893456000~acl=/*~hmac={AKAMAI_HMAC}', safe='')}"
API_QUERY = f"auth_key={HMAC_HEX}&key={API_KEY}&apikey={DOCKER_PAT}&hash={HMAC_HEX}&hmac={HMAC_HEX}&jwt={JWT}"
BLOB = regkit.Digest.of(b"leaky blob")


class Leaky(Canned):
    """Every path leaks the corpus somewhere else."""

    def do_GET(self) -> None:
        base = f"http://{self.headers['Host']}"
        path = self.path.split("?")[0]
        if path.startswith("/v2/") and not self.headers.get("Authorization"):
            realm = f"{base}/token-text" if "/text/" in path else f"{base}/token-json"
            self.answer(401, b"", [("WWW-Authenticate", f'Bearer realm="{realm}",service="leaky"')])
        elif path == "/token-json":
            doc = {
                "token": "plain-token-value-1234",
                "access_token": "plain-token-value-1234",
                "id_token": JWT,
                "accessToken": GITHUB_TOKEN,
                "refresh_token": REFRESH,
                "auth": BASIC,
                "password": PASSWORD,
                "nested": [{"secret": BASE64_BLOB, "client_secret": DOCKER_PAT}],
            }
            self.answer(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        elif path == "/token-text":
            body = f"access_token={JWT}&refresh_token={REFRESH}&scope=pull\n"
            body += f"Authorization: Basic {BASIC}\n{GITHUB_TOKEN}"
            self.answer(200, body.encode(), [("Content-Type", "application/x-www-form-urlencoded")])
        elif "/manifests/" in path:
            headers = [
                ("Link", f'<{base}/v2/_catalog?n=1&token={JWT}>; rel="next"'),
                ("Content-Location", f"{base}/v2/x?{AWS_QUERY}"),
                ("Refresh", f"0; url={base}/login?{GCS_QUERY}"),
                ("X-Auth-Token", DOCKER_PAT),
                ("Set-Cookie", f"session={BASE64_BLOB}; Path=/"),
                ("Content-Type", "application/json"),
            ]
            body = json.dumps(
                {
                    "errors": [
                        {
                            "code": "MANIFEST_UNKNOWN",
                            "message": f"no; debug token={REFRESH} Bearer {JWT} {GITHUB_TOKEN} api_key={API_KEY}",
                        }
                    ]
                }
            )
            self.answer(404, body.encode(), headers)
        elif path.endswith("/blobs/" + str(BLOB)):
            kind = path.split("/")[2]
            locations = {
                "aws": f"{base}/cdn/data?{AWS_QUERY}",
                "gcs": f"{base}/cdn/data?{GCS_QUERY}",
                "azure": f"{base}/cdn/data?{AZURE_QUERY}",
                "akamai": f"{base}/cdn/data?{AKAMAI_QUERY}",
                "keys": f"{base}/cdn/data?{API_QUERY}",
                "usertoken": f"http://{GITHUB_TOKEN}@{self.headers['Host']}/cdn/data?x=1",
                "userpass": f"http://lab:{PASSWORD}@{self.headers['Host']}/cdn/data?x=1",
                "unparsable": f"http://lab:{PASSWORD}@[::1/cdn/data?sig={quote(AZURE_SIG)}",
            }
            self.answer(307, b"", [("Location", locations[kind])])
        elif path == "/cdn/data":
            # Like S3 and GCS, the storage echoes the request (query included) in its error body.
            body = f"<Error><Code>AccessDenied</Code><Message>denied {self.path}</Message></Error>"
            self.answer(403, body.encode(), [("Content-Type", "application/xml")])
        else:
            self.answer(404, b"{}", [])

    def do_POST(self) -> None:
        """The OAuth2 form of the token spec: a refresh token in, a rotated one out; or echoed in an error."""
        form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.path == "/token-json":
            doc = {"access_token": "posted-token-value-1234", "refresh_token": IDENTITY, "expires_in": 300}
            self.answer(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        else:
            # Some token services quote what they were sent when they refuse it: the bare token too.
            said = form.replace("&", " ").split("refresh_token=")[-1].split(" ")[0]
            self.answer(400, f"invalid_grant: {said} is unknown ({form})".encode(), [("Content-Type", "text/plain")])


@pytest.fixture(scope="module")
def leaky() -> Iterator[str]:
    with serving(Leaky) as host:
        yield host


def survivors(text: str) -> list[str]:
    """The corpus secrets found in ``text``, raw or percent-encoded."""
    return [s for s in CORPUS if s in text or quote(s, safe="") in text or quote(s) in text]


def test_no_secret_survives_any_output(leaky, tmp_path):
    client = regkit.Client(insecure=True, docker_config=False)
    errors: list[BaseException] = []
    token = regkit.get_token(f"{leaky}/leaky/app:1", client=client)
    with pytest.raises(regkit.NotFound) as missing:
        regkit.get_manifest(f"{leaky}/leaky/app:1", token=token, client=client)
    errors.append(missing.value)
    with pytest.raises(regkit.AuthError) as not_json:
        regkit.get_token(f"{leaky}/text/app:1", client=client)
    errors.append(not_json.value)
    descriptor = Descriptor("application/octet-stream", BLOB, 10)
    for kind in ("aws", "gcs", "azure", "akamai", "keys", "usertoken", "userpass", "unparsable"):
        with pytest.raises(regkit.RegkitError) as failed:
            regkit.fetch_blob(f"{leaky}/{kind}/app:1", descriptor, tmp_path / "blobs", token=token, client=client)
        errors.append(failed.value)
    shown = every_output(client, *errors)
    assert len(client.transcript) >= 19
    assert "MANIFEST_UNKNOWN" in shown and "AccessDenied" in shown  # the pages are shown, minus secrets
    assert survivors(shown) == []


def test_identity_tokens_never_show(leaky):
    # An identity token from config.json (see regkit.http.dockerconfig), traded with the OAuth2 POST form.
    credentials = regkit.Credentials("<token>", IDENTITY, registry=leaky, identity_token=True)
    client = regkit.Client(insecure=True, docker_config=False, auth=credentials)
    token = regkit.get_token(f"{leaky}/leaky/app:1", client=client)
    with pytest.raises(regkit.AuthError) as refused:
        regkit.get_token(f"{leaky}/text/app:1", client=client)
    assert [e.method for e in client.transcript if "/token-" in e.url] == ["POST", "POST"]
    assert "invalid_grant" in str(refused.value)  # the body is shown, the token in it is not
    shown = every_output(client, [refused.value]) + repr(credentials) + repr(token) + token._repr_html_()
    assert survivors(shown) == []


@pytest.mark.parametrize("secret", CORPUS)
def test_each_shape_is_redacted_by_the_pure_functions(secret):
    url = f"https://user:{secret}@h/x?token={quote(secret, safe='')}&expires=5"
    assert survivors(redact_url(url)) == [] and "expires=5" in redact_url(url)
    assert survivors(redact_url(f"https://{secret}@h/x")) == []
    assert survivors(redact_url(f"https://h:{secret}@[::1/x?sig={secret}")) == []
    assert survivors(json.dumps(redact_json({"accessToken": secret, "id_token": secret, "auth": secret}))) == []
    for name in ("Link", "Content-Location", "Location"):
        assert survivors(redact_header(name, f"</v2/x?jwt={quote(secret, safe='')}>")) == []
    assert survivors(redact_header("Refresh", f"0; url=/x?signature={quote(secret, safe='')}")) == []
    assert survivors(redact_header("X-Auth-Token", secret)) == []
    assert survivors(redact_text(f"password={secret} and /x?hmac={secret}")) == []


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"])
def test_proxy_credentials_survive_no_output(leaky, tmp_path, monkeypatch, variable):
    """The proxy's password rides in the proxy URL; nothing listens there, so every error names the proxy."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, f"http://corp:{PROXY_PASSWORD}@127.0.0.1:1")
    scheme = "https" if variable == "HTTPS_PROXY" else "http"
    client = regkit.Client(insecure=True, docker_config=False)
    with pytest.raises(regkit.TransportError) as failed:
        client.send("probe", "GET", f"{scheme}://{leaky}/v2/")
    shown = every_output(client, [failed.value])
    assert client.transcript[-1].proxy.startswith("http://corp:<redacted:")
    assert survivors(shown) == []
