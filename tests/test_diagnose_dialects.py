"""Findings that depend on the registry's dialect, each produced by a dialect lab and absent when the pull works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import regkit
from regkit.diagnosis import Diagnosis
from regkit.lab import Lab
from regkit.lab.dialectlab import DialectLab
from regkit.lab.dialects import ACR_NULL_USER
from regkit.lab.nginx import namespacing_mirror, nginx_process, standalone_config, write_config
from regkit.lab.process import pick_port

from .test_dialect_client import docker_config, identity_entry

DIALECT_FINDINGS = {
    "anonymous-denied",
    "denied-at-token-service",
    "credentials-expired",
    "basic-only-registry",
    "identity-token",
}


@pytest.fixture(scope="module")
def gar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DialectLab]:
    with DialectLab(tmp_path_factory.mktemp("gar"), dialect="gar") as lab:
        yield lab


@pytest.fixture(scope="module")
def acr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DialectLab]:
    with DialectLab(tmp_path_factory.mktemp("acr"), dialect="acr") as lab:
        yield lab


@pytest.fixture(scope="module")
def ecr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DialectLab]:
    with DialectLab(tmp_path_factory.mktemp("ecr"), dialect="ecr") as lab:
        yield lab


def codes(result: Diagnosis) -> set[str]:
    return {f.code for f in result.findings}


def finding(result: Diagnosis, code: str) -> regkit.diagnosis.Finding:
    return next(f for f in result.findings if f.code == code)


def diagnose(lab: DialectLab, auth: tuple[str, str] | None = None) -> Diagnosis:
    return regkit.diagnose(lab.private[0], insecure=True, auth=auth, check_upstream=False)


def test_anonymous_denial_at_artifact_registrys_token_service(gar):
    result = diagnose(gar)
    anonymous = finding(result, "anonymous-denied")
    assert "no credentials were sent" in anonymous.message and f"docker login {gar.registry}" in anonymous.fix
    at_token = finding(result, "denied-at-token-service")
    assert "the permission artifactregistry.repositories.downloadArtifacts" in at_token.message
    assert at_token.evidence[0].status == 403 and "credentials were refused" not in str(result)


def test_artifact_registrys_hour_long_access_token_expired(gar):
    result = diagnose(gar, (gar.username, gar.expired_password()))
    found = finding(result, "credentials-expired")
    assert "last 1 h" in found.message and "gcloud auth print-access-token" in found.fix
    assert {"anonymous-denied", "denied-at-token-service"}.isdisjoint(codes(result))
    assert gar.expired_password()[:12] not in str(result)


def test_artifact_registry_with_a_fresh_token_is_ok(gar):
    result = diagnose(gar, gar.credentials)
    assert result.ok and not codes(result) & DIALECT_FINDINGS, str(result)


def test_anonymous_on_basic_only_ecr(ecr):
    result = diagnose(ecr)
    assert {"anonymous-denied", "basic-only-registry"} <= codes(result)
    assert "denied-at-token-service" not in codes(result)  # ECR has no token service to deny at


def test_ecrs_twelve_hour_password_expired(ecr):
    result = diagnose(ecr, (ecr.username, ecr.expired_password()))
    found = finding(result, "credentials-expired")
    assert "Your authorization token has expired" in found.message and "ECR passwords last 12 h" in found.message
    assert "aws ecr get-login-password" in found.fix and "anonymous-denied" not in codes(result)


def test_ecr_with_a_fresh_password_is_ok_and_says_basic_only(ecr):
    result = diagnose(ecr, ecr.credentials)
    assert result.ok and codes(result) & DIALECT_FINDINGS == {"basic-only-registry"}, str(result)


def test_ecrs_s3_storage_refuses_an_expired_url_while_the_clocks_agree(ecr):
    ecr.expire_signed_urls(2)  # the first and the one the client asks again for
    try:
        result = diagnose(ecr, ecr.credentials)
    finally:
        ecr.expire_signed_urls(0)
    found = finding(result, "signed-url-expired")
    assert "AccessDenied (Request has expired)" in found.message and "not clock skew" in found.message
    assert found.evidence[0].status == 403 and found.evidence[1].status in (302, 307)
    assert {"storage-access-denied", "anonymous-denied", "credentials-expired"}.isdisjoint(codes(result))


def test_ecrs_s3_storage_refuses_head_on_a_get_signed_url(ecr):
    result = diagnose(ecr, ecr.credentials)
    found = finding(result, "storage-head-forbidden")
    assert found.evidence[0].method == "HEAD" and "X-Amz-Signature=<redacted:" in found.evidence[0].url
    assert f"{ecr.storage_host} answers 403 to a HEAD" in found.message and "GET" in found.fix
    assert result.ok and "html-instead-of-json" not in codes(result)


def test_none_of_them_on_a_docker_hub_shaped_pull(open_lab: Lab):
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert result.ok and not codes(result) & (DIALECT_FINDINGS | {"storage-head-forbidden"})
    probe = result.exchanges[-1]  # the lab's CDN (nginx secure_link) answers HEAD like GET
    assert (probe.method, probe.status, probe.url.split("/")[2]) == ("HEAD", 200, f"127.0.0.1:{open_lab.settings.cdn}")


def test_an_identity_token_traded_at_acrs_realm(acr, tmp_path: Path, monkeypatch):
    docker_config(tmp_path, monkeypatch, {"auths": {acr.registry: identity_entry(ACR_NULL_USER, acr.identity_token)}})
    result = diagnose(acr)
    found = next(f for f in result.findings if f.code == "identity-token")
    assert result.ok and found.severity == "info", str(result)
    assert f"was traded at {acr.registry} for an access token to repository:private/busybox:pull" in found.message
    assert "POST grant_type=refresh_token" in found.message and found.evidence[0].method == "POST"
    assert acr.identity_token not in str(result) + result._repr_html_()


def test_an_expired_identity_token_is_refused_at_acrs_realm(acr, tmp_path: Path, monkeypatch):
    expired = acr.expired_password()
    docker_config(tmp_path, monkeypatch, {"auths": {acr.registry: identity_entry(ACR_NULL_USER, expired)}})
    result = diagnose(acr)
    found = finding(result, "identity-token")
    assert found.severity == "error" and "was refused at" in found.message and "az acr login" in found.fix
    assert {"credentials-expired", "anonymous-denied"}.isdisjoint(codes(result))
    assert expired not in str(result) + result._repr_html_()


@pytest.fixture(scope="module")
def namespacing(gar: DialectLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx in front of the gar dialect, adding ``repository:docker.io/<name>:pull`` to every challenge's scope."""
    state, port = tmp_path_factory.mktemp("namespacing"), pick_port()
    write_config(state, standalone_config(state, namespacing_mirror(port, f"http://{gar.registry}", "docker.io")))
    with nginx_process(state, [port]):
        yield f"http://127.0.0.1:{port}"


def test_a_strict_token_service_refuses_an_extra_scope(gar, namespacing):
    result = regkit.diagnose(
        f"{gar.registry}/library/busybox",
        endpoints=regkit.Endpoints.create(registry=namespacing, insecure=True),
        insecure=True,
        check_upstream=False,
    )
    found = finding(result, "scope-rejected")
    assert (
        "asked for repository:docker.io/library/busybox:pull besides repository:library/busybox:pull" in found.message
    )
    assert found.evidence[0].status == 403 and "containerd#9648" in found.message
    assert {"anonymous-denied", "denied-at-token-service"}.isdisjoint(codes(result))
    direct = regkit.diagnose(f"{gar.registry}/library/busybox", insecure=True, check_upstream=False)
    assert direct.ok and "scope-rejected" not in codes(direct), str(direct)
