"""Corporate networks (regkit.lab.corpnet): a real intercepting proxy (mitmproxy), proxies that want
credentials, block the storage host, add Authorization to it or deny it by policy; and the findings
``regkit diagnose`` makes of each, absent when the pull works."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import regkit
from regkit.diagnosis import Diagnosis
from regkit.lab import Lab
from regkit.lab.corpnet import PROXY_VARIABLES, CorporateNetwork

from .test_credentials import every_output

NETWORK_FINDINGS = {
    "proxy-auth-required",
    "cdn-certificate-untrusted",
    "storage-host-blocked",
    "storage-rejects-authorization",
    "storage-access-denied",
    "signed-url-expired",
}


@pytest.fixture(scope="module")
def corp(open_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorporateNetwork]:
    with CorporateNetwork(open_lab, tmp_path_factory.mktemp("corpnet")) as network:
        yield network


@pytest.fixture
def certs_d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty certs.d root of this test's own, and no proxy variables from the outside."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "certs.d"
    root.mkdir()
    monkeypatch.setenv("REGKIT_CERTS_D", str(root))
    return root


def trust(root: Path, host: str, ca: Path) -> None:
    (root / host).mkdir(exist_ok=True)
    shutil.copy(ca, root / host / "ca.crt")


def codes(result: Diagnosis) -> set[str]:
    return {f.code for f in result.findings}


def finding(result: Diagnosis, code: str) -> regkit.diagnosis.Finding:
    return next(f for f in result.findings if f.code == code)


def diagnose_tls(corp: CorporateNetwork) -> Diagnosis:
    """The TLS registry, trusting the lab's public CA everywhere (as a machine trusts the public roots)."""
    return regkit.diagnose(f"{corp.registry_host}/library/busybox", ca_cert=corp.public_ca)


def test_direct_pull_over_tls_redirects_to_the_storage_host(corp, certs_d):
    result = diagnose_tls(corp)
    assert result.ok, str(result)
    hops = [e for e in result.exchanges if "redirect" in e.note]
    assert hops and all(e.url.startswith(f"https://{corp.storage_host}/") and e.status == 200 for e in hops)
    assert not codes(result) & NETWORK_FINDINGS


def test_intercepting_proxy_trusted_for_the_registry_only(corp, certs_d, monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("intercepting"))
    trust(certs_d, corp.registry_host, corp.mitm_ca)
    result = diagnose_tls(corp)
    found = finding(result, "cdn-certificate-untrusted")
    assert f"{corp.registry_host} verified, but the blob storage host {corp.storage_host} did not" in found.message
    assert str(certs_d / corp.registry_host / "ca.crt") in found.fix
    assert f"certs.d/{corp.storage_host}/ca.crt" in found.fix
    assert {"cdn-unreachable", "tls-error"}.isdisjoint(codes(result))
    # The fix it names works: the same CA for the storage host, and the pull goes through the proxy.
    trust(certs_d, corp.storage_host, corp.mitm_ca)
    fixed = diagnose_tls(corp)
    assert fixed.ok and not codes(fixed) & NETWORK_FINDINGS, str(fixed)
    assert all(e.proxy == corp.proxy_url("intercepting") for e in fixed.exchanges if e.url.startswith("https://"))
    pulled = regkit.pull(
        f"{corp.registry_host}/library/busybox", tmp_path / "bb.tar", ca_cert=corp.public_ca, cache=False
    )
    assert pulled.image.path.is_file()


def test_intercepting_proxy_without_its_ca_fails_on_the_registry_first(corp, certs_d, monkeypatch):
    """Not trusted anywhere: the registry hop fails, which is a plain TLS error, not the storage-hop pattern."""
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("intercepting"))
    result = diagnose_tls(corp)
    assert "tls-error" in codes(result) and "cdn-certificate-untrusted" not in codes(result)


def test_https_proxy_wanting_credentials(corp, certs_d, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("mitm_login"))
    result = diagnose_tls(corp)
    found = finding(result, "proxy-auth-required")
    assert "407 Proxy Authentication Required" in found.message and "carries none" in found.message
    assert "HTTPS_PROXY=http://USER:PASSWORD@" in found.fix and "connection-failed" not in codes(result)
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("mitm_login").replace("http://", "http://corp:wrong-pass-1@"))
    wrong = diagnose_tls(corp)
    assert "refused the user and password in the proxy URL" in finding(wrong, "proxy-auth-required").message
    assert "wrong-pass-1" not in str(wrong) + wrong._repr_html_()
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("mitm_login", credentials=True))
    with regkit.Client(ca_cert=corp.public_ca) as client:
        regkit.get_manifest(f"{corp.registry_host}/library/busybox", client=client)
    assert client.transcript[-1].status == 200 and corp.password not in every_output(client)
    assert client.transcript[-1].proxy.startswith("http://corp:<redacted:")


def test_plain_http_proxy_wanting_credentials(open_lab, corp, certs_d, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", corp.proxy_url("login"))
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    found = finding(result, "proxy-auth-required")
    assert 'Basic realm="regkit lab corporate proxy"' in found.message
    monkeypatch.setenv("HTTP_PROXY", corp.proxy_url("login", credentials=True))
    good = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert good.ok and not codes(good) & NETWORK_FINDINGS, str(good)
    assert corp.password not in str(good) + good._repr_html_()


def test_proxy_blocking_the_storage_host(corp, certs_d, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", corp.proxy_url("blocking"))
    result = diagnose_tls(corp)
    found = finding(result, "storage-host-blocked")
    assert f"storage host {corp.storage_host} (403) while it let {corp.registry_host} through" in found.message
    assert f"allow {corp.storage_host}" in found.fix and "cdn-unreachable" not in codes(result)


def test_proxy_adding_authorization_to_the_storage_hop(open_lab, corp, certs_d, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", corp.proxy_url("sso"))
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    found = finding(result, "storage-rejects-authorization")
    assert "regkit sent no Authorization" in found.message and corp.proxy_url("sso") in found.message
    assert not any(k.lower() == "authorization" for k, _ in found.evidence[0].request_headers)
    # S3 echoes the header it refused: the proxy's token, which regkit never had, is redacted by shape.
    assert "<ArgumentValue>Bearer <redacted:" in found.evidence[0].body_preview
    assert corp.sso_token not in str(result) + result._repr_html_()
    assert "html-instead-of-json" not in codes(result)


def test_a_policy_denying_the_storage_host(open_lab, corp, certs_d, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", corp.proxy_url("vpc"))
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    found = finding(result, "storage-access-denied")
    assert f"{open_lab.settings.cdn}, not the registry, answered 403 AccessDenied (Access Denied)" in found.message
    assert "x-amz-request-id REGKITLAB0000001" in found.message and "VPC endpoint" in found.fix
    assert "html-instead-of-json" not in codes(result)


def test_a_plain_forward_proxy_is_fine(open_lab, certs_d, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", open_lab.forward_proxy_url)
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert result.ok and not codes(result) & NETWORK_FINDINGS, str(result)


def test_a_storage_host_whose_clock_is_an_hour_ahead(corp, certs_d):
    result = regkit.diagnose(f"{corp.skewed_registry_host}/library/busybox", insecure=True)
    assert "signed-url-expired" in codes(result), str(result)
    found = finding(result, "signed-url-expired")
    assert "AccessDenied (Request has expired)" in found.message
    assert "clock skew: the storage host's clock is 36" in found.message and "NTP" in found.fix
    assert found.evidence[1].status == 307 and "anonymous-denied" not in codes(result)


def test_behind_sets_one_proxy_and_trusts_its_ca_for_the_named_hosts_only(corp, certs_d, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "example.org")
    with corp.behind("intercepting", trust=[corp.registry_host]):
        assert os.environ["HTTPS_PROXY"] == corp.proxy_url("intercepting") and "NO_PROXY" not in os.environ
        inside = Path(os.environ["REGKIT_CERTS_D"])
        assert [path.relative_to(inside) for path in inside.rglob("ca.crt")] == [Path(corp.registry_host, "ca.crt")]
        result = diagnose_tls(corp)
    assert "cdn-certificate-untrusted" in codes(result)
    assert os.environ["NO_PROXY"] == "example.org" and "HTTPS_PROXY" not in os.environ
    assert os.environ["REGKIT_CERTS_D"] == str(certs_d)
    with corp.behind("sso"):
        assert os.environ["HTTP_PROXY"] == corp.proxy_url("sso") and "HTTPS_PROXY" not in os.environ
