"""Every diagnosis finding, produced against the lab (the fault proxy plays the broken boxes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import regkit
from regkit.diagnosis import Diagnosis, Finding
from regkit.diagnosis.proxyconfig import ProxyUpstreams, nginx_config
from regkit.lab import Lab
from regkit.lab.nginx import NGINX
from regkit.lab.process import ManagedProcess, pick_port, tcp_probe


def codes(result: Diagnosis) -> list[str]:
    return [f.code for f in result.findings]


def finding(result: Diagnosis, code: str) -> Finding:
    return next(f for f in result.findings if f.code == code)


def via_fault(lab: Lab, fault: str, ref: str = "library/busybox", **kwargs: object) -> Diagnosis:
    endpoints = regkit.Endpoints.create(registry=lab.fault_url(fault), insecure=True)
    return regkit.diagnose(ref, endpoints=endpoints, insecure=True, **kwargs)  # type: ignore[arg-type]


def test_a_healthy_pull_is_ok(open_lab):
    result = regkit.diagnose(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert result.ok and codes(result) == ["ok"]
    assert [e.method for e in result.exchanges][:2] == ["HEAD", "GET"]


def test_unreachable_realm(hub_lab):
    result = regkit.diagnose(f"{hub_lab.front_host}/library/busybox", insecure=True)
    found = finding(result, "realm-unreachable")
    assert f"127.0.0.1:{hub_lab.settings.dead_auth}" in found.message and "DOCKER_AUTH_REVERSE_PROXY" in found.fix
    assert found.evidence[0].status == 401 and not result.ok


def test_unreachable_cdn(hub_lab):
    env = {k: v for k, v in hub_lab.proxy_env().items() if k != "DOCKER_BLOB_REVERSE_PROXY"}
    result = regkit.diagnose("busybox", endpoints=regkit.Endpoints.from_env(env, insecure=True), insecure=True)
    found = finding(result, "cdn-unreachable")
    assert f"127.0.0.1:{hub_lab.settings.dead_cdn}" in found.message and "DOCKER_BLOB_REVERSE_PROXY" in found.fix


def test_the_seed_proxy_with_all_three_variables_is_ok(hub_lab):
    result = regkit.diagnose("busybox", endpoints=hub_lab.proxy_endpoints(), insecure=True)
    assert result.ok, str(result)


def test_authorization_forwarded_to_the_cdn(open_lab):
    result = via_fault(open_lab, "auth-to-cdn")
    found = finding(result, "storage-rejects-authorization")
    assert "Only one auth mechanism allowed" in found.message and "Authorization" in found.fix
    assert "<ArgumentValue>Bearer <redacted:" in found.evidence[0].body_preview


def test_a_body_echoing_the_token_is_recorded_without_it(open_lab, tmp_path):
    """The CDN echoes the forwarded header, as S3 does; the transcript must not keep the value."""
    endpoints = regkit.Endpoints.create(registry=open_lab.fault_url("auth-to-cdn"), insecure=True)
    client = regkit.Client(endpoints=endpoints, insecure=True)
    with pytest.raises(regkit.RegistryError, match="Only one auth mechanism"):
        regkit.pull("library/busybox", tmp_path / "x.tar", client=client, cache=False)
    tokens = [token.value for token in client.tokens.values()]
    recorded = " ".join(e.body_preview + str(e.response_headers) for e in client.transcript)
    assert tokens and "<ArgumentValue>Bearer <redacted:" in recorded
    assert not any(token in recorded for token in tokens)


def test_a_challenge_that_lost_service_and_scope(open_lab):
    result = via_fault(open_lab, "bad-challenge")
    found = finding(result, "challenge-incomplete")
    assert "no service and no scope" in found.message and not result.ok


def test_proxies_that_route_only_the_registry_are_reported(open_lab):
    result = via_fault(open_lab, "ok", "library/busybox")
    assert result.ok and {"realm-not-proxied", "ok"} <= set(codes(result))
    assert "blob" not in " ".join(codes(result))  # the fault proxy serves blobs itself: no redirect


def test_one_component_name_without_library(open_lab):
    result = regkit.diagnose(f"{open_lab.front_host}/busybox", insecure=True)
    assert "library/busybox" in finding(result, "missing-library-prefix").fix


@pytest.mark.parametrize(
    "fault,code",
    [
        ("ratelimit", "rate-limited-pull-quota"),
        ("proxy-429", "rate-limited-proxy-429"),
        ("hub-429", "rate-limited-registry-429"),
    ],
)
def test_three_kinds_of_429(open_lab, fault, code):
    result = via_fault(open_lab, fault, "library/whiteout")
    assert code in codes(result), str(result)
    if fault == "ratelimit":
        assert "Retry-After: 1" in finding(result, code).message


def test_diagnose_and_rate_limit_take_a_client_like_every_step(open_lab):
    ref = f"{open_lab.front_host}/library/busybox"
    with regkit.Client(insecure=True) as client:
        regkit.get_token(ref, client=client)  # exchanges before the diagnosis are not its evidence
        earlier = len(client.transcript)
        result = regkit.diagnose(ref, client=client)
        assert result.ok and codes(result) == ["ok"]
        assert list(result.exchanges) == list(client.transcript)[earlier:]
        _, asked = regkit.diagnosis.rate_limit(ref, client=client)
        assert {e.method for e in asked} == {"HEAD"} and asked[-1].step == "manifest"  # this call's only
        assert len(client.transcript) == earlier + len(result.exchanges) + len(asked)  # still open, still used
        with pytest.raises(regkit.UsageError, match="either client= or client options"):
            regkit.diagnose(ref, client=client, insecure=True)
        with pytest.raises(regkit.UsageError, match="either client= or client options"):
            regkit.diagnosis.rate_limit(ref, client=client, auth=("user", "secret"))


def test_rate_limit_headers_and_the_ratelimit_command(open_lab):
    result = via_fault(open_lab, "hub-ratelimit", "library/layers")
    assert "100;" not in finding(result, "rate-limit").message  # parsed, not dumped
    assert "pulls left per 6 h" in finding(result, "rate-limit").message
    argv = [sys.executable, "-m", "regkit", "ratelimit", "library/layers", "--insecure-registry"]
    argv += ["--mirror", open_lab.fault_url("hub-ratelimit")]
    first, second = (subprocess.run(argv, capture_output=True, text=True, check=True).stdout for _ in range(2))
    assert first == second and "of 100 pulls left" in first  # HEAD spends nothing


def test_pull_shows_the_budget_before_and_after(open_lab, tmp_path):
    client = regkit.Client(
        endpoints=regkit.Endpoints.create(registry=open_lab.fault_url("hub-ratelimit"), insecure=True)
    )
    result = regkit.pull("library/whiteout", tmp_path / "w.tar", client=client)
    before, after = result.rate_limit
    assert before is not None and after is not None and after.remaining == before.remaining - 1


def test_html_where_json_was_expected(open_lab):
    found = finding(via_fault(open_lab, "html-manifest"), "html-instead-of-json")
    assert "via: 1.1 faulty-proxy" in found.message and "invalid character '<'" in found.message


def test_plain_http_and_tls_errors(open_lab):
    plain = regkit.diagnose(f"{open_lab.front_host}/library/busybox")
    assert "--insecure-registry" in finding(plain, "plain-http-registry").fix
    tls = regkit.diagnose(f"{open_lab.tls_host}/library/busybox")
    assert "certificate" in finding(tls, "tls-error").message.lower()


def test_truncated_corrupt_and_re_encoded_blobs(open_lab):
    assert "truncated" in " ".join(codes(via_fault(open_lab, "truncate-blob")))
    assert "blob-corrupt" in codes(via_fault(open_lab, "flip-blob", "library/whiteout"))
    assert "blob-content-encoding" in codes(via_fault(open_lab, "content-encoding", "library/layers"))


def test_manifest_type_and_digest_header(open_lab):
    assert "manifest-media-type" in codes(via_fault(open_lab, "schema1"))
    assert "manifest-digest-mismatch" in codes(via_fault(open_lab, "wrong-digest-header", "library/layers"))


def test_manifest_unknown_missing_upstream_or_broken_proxy(open_lab):
    direct = regkit.diagnose(f"{open_lab.front_host}/library/busybox:nope", insecure=True)
    assert codes(direct)[0] == "manifest-unknown"
    missing = via_fault(open_lab, "ok", f"{open_lab.front_host}/library/busybox:nope")
    assert "missing-upstream" in codes(missing)
    broken = via_fault(open_lab, "unknown-manifest", f"{open_lab.front_host}/library/busybox")
    assert "broken-proxy" in codes(broken) and "missing-upstream" not in codes(broken)


def test_diagnose_cli_exit_codes(hub_lab, open_lab):
    bad = subprocess.run(
        [sys.executable, "-m", "regkit", "diagnose", f"{hub_lab.front_host}/library/busybox", "--insecure-registry"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "realm-unreachable" in bad.stdout
    good = subprocess.run(
        [sys.executable, "-m", "regkit", "diagnose", f"{open_lab.front_host}/library/busybox", "--insecure-registry"],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "OK" in good.stdout


def test_generated_proxy_config_needs_only_mirror(hub_lab, tmp_path: Path):
    """nginx with `regkit proxy-config nginx` in front of the hub-mode lab: no client-side rewriting needed."""
    port = pick_port()
    upstreams = ProxyUpstreams.create(
        f"http://{hub_lab.front_host}", hub_lab.token_url.removesuffix("/token"), hub_lab.cdn_url, f"127.0.0.1:{port}"
    )
    (tmp_path / "nginx.conf").write_text(nginx_config(upstreams, full=True))
    argv = [str(NGINX), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    argv += ["-g", f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr;"]
    with ManagedProcess("proxy", argv, tmp_path / "state", ready=tcp_probe(port)):
        endpoints = regkit.Endpoints.create(registry=f"http://127.0.0.1:{port}", insecure=True)
        result = regkit.pull("busybox", tmp_path / "bb.tar", endpoints=endpoints, insecure=True, cache=False)
        assert result.image.path.is_file()
        hops = [e for e in result.exchanges if "redirect" in e.note]
        assert hops and all(f"127.0.0.1:{port}/docker-blob/" in e.url and not e.rewritten for e in hops)
        token = next(e for e in result.exchanges if e.step == "token" and e.method == "GET")
        assert token.url.startswith(f"http://127.0.0.1:{port}/docker-auth/token")
