"""Secrets never survive redaction; proxy rewriting keeps what must stay byte-for-byte."""

import pytest

from regkit import Credentials, Endpoints, InvalidOption, resolve
from regkit.oci.redact import fingerprint, redact_headers, redact_json, redact_url

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-payload.signature"


def test_headers_keep_the_scheme_and_hide_the_secret():
    out = dict(redact_headers({"Authorization": f"Bearer {TOKEN}", "Accept": "x", "Set-Cookie": "s=1"}))
    assert out["Authorization"] == f"Bearer {fingerprint(TOKEN)}" and TOKEN not in str(out)
    assert out["Accept"] == "x" and "s=1" not in out["Set-Cookie"]
    assert fingerprint(TOKEN) != fingerprint(TOKEN + "x")


def test_urls_hide_passwords_and_signatures():
    url = "https://user:hunter2@cdn.example/blob/sha256:ab?X-Amz-Signature=deadbeef&expires=99&md5=Zm9v"
    out = redact_url(url)
    assert "hunter2" not in out and "deadbeef" not in out and "Zm9v" not in out
    assert "expires=99" in out and "/blob/sha256:ab" in out
    assert dict(redact_headers([("Location", url)]))["Location"] == out


def test_docker_hub_cdn_signature_is_hidden():
    hub = "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/ab/x/data?verify=1700000000-AbCdEf123"
    assert "AbCdEf123" not in redact_url(hub) and "1700000000" not in redact_url(hub)


def test_json_bodies_and_credentials_repr():
    doc = redact_json({"token": TOKEN, "access_token": TOKEN, "expires_in": 300, "nested": [{"password": "pw"}]})
    assert TOKEN not in str(doc) and "'pw'" not in str(doc) and doc["expires_in"] == 300
    assert "hunter2" not in repr(Credentials("bob", "hunter2"))


def test_endpoints_from_env_and_mirror_precedence():
    env = {
        "DOCKER_REGISTRY_REVERSE_PROXY": "proxy.example/docker-registry",
        "DOCKER_AUTH_REVERSE_PROXY": "proxy.example/docker-auth/token",
        "DOCKER_BLOB_REVERSE_PROXY": "proxy.example/docker-blob/",
    }
    e = Endpoints.from_env(env, insecure=True)
    assert e.registry_base(resolve("alpine")) == "http://proxy.example/docker-registry"
    assert e.realm("https://auth.docker.io/token", resolve("alpine")) == "http://proxy.example/docker-auth/token"
    signed = "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/ab/x/data?verify=1%2B2&sig=a%3D"
    assert (
        e.blob_location(signed, resolve("alpine"))
        == "http://proxy.example/docker-blob/registry-v2/docker/registry/v2/blobs/sha256/ab/x/data?verify=1%2B2&sig=a%3D"
    )
    mirrored = Endpoints.from_env(env, mirror="https://mirror.example/prefix", insecure=True)
    assert mirrored.registry == "https://mirror.example/prefix"
    assert Endpoints.from_env({}).registry_base(resolve("alpine")) == "https://registry-1.docker.io"


def test_the_seed_variables_apply_to_docker_hub_only():
    env = {
        "DOCKER_REGISTRY_REVERSE_PROXY": "p/r",
        "DOCKER_AUTH_REVERSE_PROXY": "p/a",
        "DOCKER_BLOB_REVERSE_PROXY": "p/b",
    }
    e = Endpoints.from_env(env)
    other = resolve("ghcr.io/org/app")
    assert e.registry_base(other) == "https://ghcr.io"
    assert e.realm("https://ghcr.io/token", other) == "https://ghcr.io/token"
    assert e.blob_location("https://cdn.ghcr/x?sig=1", other) == "https://cdn.ghcr/x?sig=1"
    assert e.realm("https://auth.docker.io/token", resolve("alpine")) == "https://p/a"
    # An explicit mirror is the caller's choice for the reference at hand.
    chosen = Endpoints.from_env(env, mirror="m.example")
    assert chosen.registry_base(other) == "https://m.example" and chosen.realm("x", other) == "https://p/a"


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "x?y=1"])
def test_bad_endpoints(bad):
    with pytest.raises(InvalidOption):
        Endpoints.create(registry=bad)
