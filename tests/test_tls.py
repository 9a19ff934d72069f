"""TLS the way Docker users configure it: certs.d per host, --ca-cert, the CA variables, mutual TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import regkit
from regkit.errors import CA_CERT, TransportError
from regkit.http.tls import TlsSettings
from regkit.http.transport import Transport
from regkit.lab import Lab
from regkit.lab.certs import make_key_pair
from regkit.lab.nginx import mutual_tls_config, nginx_process, write_config
from regkit.lab.process import pick_port

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def no_ambient_trust(monkeypatch, tmp_path):
    """No CA variable and an empty certs.d root unless a test sets them: trust comes from the test alone."""
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REGKIT_CERTS_D", str(tmp_path / "empty-certs.d"))


def lab_ca(lab: Lab) -> Path:
    """The lab's self-signed TLS certificate, which is its own CA."""
    return lab.state_dir / "tls" / "cert.pem"


def certs_d(root: Path, host: str, files: dict[str, Path]) -> Path:
    """Docker's layout: ``root/<host:port>/<name>`` holding copies of ``files``."""
    folder = root / host
    folder.mkdir(parents=True)
    for name, source in files.items():
        (folder / name).write_bytes(source.read_bytes())
    return root


@pytest.mark.parametrize("source", ["ca_cert", "certs.d", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_private_ca_is_trusted_from_each_source(open_lab, tmp_path, monkeypatch, source):
    ref = f"{open_lab.tls_host}/library/busybox"
    options: dict[str, object] = {}
    if source == "ca_cert":
        options["ca_cert"] = lab_ca(open_lab)
    elif source == "certs.d":
        root = certs_d(tmp_path / "certs.d", open_lab.tls_host, {"ca.crt": lab_ca(open_lab)})
        monkeypatch.setenv("REGKIT_CERTS_D", str(root))
    else:
        monkeypatch.setenv(source, str(lab_ca(open_lab)))
    with regkit.Client(docker_config=False, **options) as client:  # type: ignore[arg-type]
        result = regkit.pull(ref, tmp_path / "b.tar", client=client)
    assert result.exchanges[0].url.startswith(f"https://{open_lab.tls_host}/v2/")
    assert (tmp_path / "b.tar").stat().st_size > 0


def test_without_the_ca_the_error_names_what_works(open_lab, tmp_path, monkeypatch):
    # A certs.d folder for another port of the same address does not apply.
    other = f"127.0.0.1:{open_lab.settings.front}"
    monkeypatch.setenv("REGKIT_CERTS_D", str(certs_d(tmp_path / "certs.d", other, {"ca.crt": lab_ca(open_lab)})))
    with regkit.Client(docker_config=False) as client, pytest.raises(regkit.TransportError) as failed:
        regkit.get_token(f"{open_lab.tls_host}/library/busybox", client=client)
    hint = failed.value.hint
    assert hint is not None and "TLS failed" in failed.value.message
    assert str(tmp_path / "certs.d" / open_lab.tls_host) in hint and "ca_cert=" in hint and "--" not in hint
    assert hint.option == CA_CERT and "--ca-cert" in hint.said("cli")
    assert "--insecure-registry" in hint.said("cli")  # it is the registry's own host: the flag applies
    result = regkit.diagnose(f"{open_lab.tls_host}/library/busybox")
    tls = next(f for f in result.findings if f.code == "tls-error")
    assert "ca_cert=" in tls.fix and "--ca-cert" in tls.fix and "certs.d" in tls.fix  # read in both front ends


def test_cli_ca_cert_option_for_pull_and_diagnose(open_lab, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CA_VARIABLES and not k.startswith("DOCKER_")}
    env["REGKIT_CERTS_D"] = str(tmp_path / "none")
    ref = f"{open_lab.tls_host}/library/busybox"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "regkit", *args]
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)

    refused = run("pull", ref, "-o", "a.tar")
    assert refused.returncode == 1 and "--ca-cert" in refused.stderr
    pulled = run("pull", ref, "-o", "b.tar", "--ca-cert", str(lab_ca(open_lab)))
    assert pulled.returncode == 0, pulled.stderr
    diagnosed = run("diagnose", ref, "--ca-cert", str(lab_ca(open_lab)))
    assert diagnosed.returncode == 0 and "the flow works" in diagnosed.stdout


def test_a_realm_with_a_bad_certificate_is_not_told_to_use_insecure_registry(open_lab, tmp_path):
    # --insecure-registry covers the registry's host, never a token service: the hint must not offer it.
    endpoints = regkit.Endpoints.create(
        registry=f"http://{open_lab.front_host}", auth=f"https://{open_lab.tls_host}/token", insecure=True
    )
    client = regkit.Client(endpoints=endpoints, insecure=True, docker_config=False)
    with client, pytest.raises(regkit.AuthError) as failed:
        regkit.pull("library/busybox", tmp_path / "b.tar", client=client)
    shown = str(failed.value)
    assert "TLS failed" in shown and open_lab.tls_host in shown
    assert "insecure=True" not in shown and "ca_cert=" in shown
    assert "DOCKER_AUTH_REVERSE_PROXY" not in (failed.value.hint or "")


@pytest.fixture(scope="module")
def mutual_tls(open_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """nginx requiring a client certificate, in front of the open lab's registry; its address and client pair."""
    state = tmp_path_factory.mktemp("mtls")
    _, client_cert = make_key_pair(state / "client", "regkit test client")
    port = pick_port()
    write_config(
        state, mutual_tls_config(state, port, open_lab.settings.front, open_lab.state_dir / "tls", client_cert)
    )
    server = nginx_process(state, [port])
    server.start()
    try:
        yield f"127.0.0.1:{port}", state / "client"
    finally:
        server.stop()


def test_mutual_tls_client_certificate_from_certs_d(open_lab, mutual_tls, tmp_path, monkeypatch):
    host, client_pair = mutual_tls
    ref = f"{host}/library/busybox"
    only_ca = certs_d(tmp_path / "ca-only", host, {"ca.crt": lab_ca(open_lab)})
    monkeypatch.setenv("REGKIT_CERTS_D", str(only_ca))
    with regkit.Client(docker_config=False) as client, pytest.raises(regkit.RegkitError):
        regkit.pull(ref, tmp_path / "refused.tar", client=client)
    assert client.transcript[0].status == 400  # nginx: "No required SSL certificate was sent"
    files = {"ca.crt": lab_ca(open_lab), "client.cert": client_pair / "cert.pem", "client.key": client_pair / "key.pem"}
    monkeypatch.setenv("REGKIT_CERTS_D", str(certs_d(tmp_path / "full", host, files)))
    with regkit.Client(docker_config=False) as client:
        result = regkit.pull(ref, tmp_path / "b.tar", client=client)
    assert result.exchanges[0].status == 401 and (tmp_path / "b.tar").stat().st_size > 0


def test_insecure_registry_tries_https_first_accepting_any_certificate(open_lab, tmp_path):
    # The lab's TLS front has a certificate nobody trusts here: an insecure registry still speaks HTTPS.
    with regkit.Client(insecure=True, docker_config=False) as client:
        result = regkit.pull(f"{open_lab.tls_host}/library/busybox", tmp_path / "s.tar", client=client)
    registry_hops = [e for e in result.exchanges if open_lab.tls_host in e.url]
    assert registry_hops and all(e.url.startswith("https://") for e in registry_hops)
    assert not any("plain HTTP" in e.note for e in client.transcript)


def test_insecure_registry_falls_back_to_plain_http_fast_and_says_so(registry, tmp_path):
    with regkit.Client(insecure=True, docker_config=False) as client:
        started = time.perf_counter()
        token = regkit.get_token(f"{registry.host}/library/busybox", client=client)
        took = time.perf_counter() - started
        probe = token.exchanges[0]
        assert probe.url.startswith(f"http://{registry.host}/") and probe.status == 200
        assert "plain HTTP after HTTPS failed" in probe.note and "answered plain HTTP" in probe.note
        # A refused handshake on an HTTP port fails fast, and the choice is remembered for the host.
        assert took < 2.0 and len(client.transcript) == 1
        result = regkit.pull(f"{registry.host}/library/busybox", tmp_path / "b.tar", client=client)
    assert all(e.url.startswith("http://") and "plain HTTP" not in e.note for e in result.exchanges)
    assert "plain HTTP after HTTPS failed" in json.dumps(client.transcript.to_har())


@pytest.fixture
def ssl_calls(monkeypatch) -> dict[str, int]:
    """How often each SSLContext method ran (a spy on the real methods: the connections stay real)."""
    import ssl

    counts = {"load_verify_locations": 0, "load_default_certs": 0, "set_default_verify_paths": 0, "wrap_socket": 0}
    for name in counts:
        real = getattr(ssl.SSLContext, name)

        def spy(self, *args, _name=name, _real=real, **kwargs):
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(ssl.SSLContext, name, spy)
    return counts


def test_a_trust_bundle_is_loaded_once_for_all_connections(open_lab, tmp_path, ssl_calls):
    """Loading a CA bundle takes ~35 ms: once per client and bundle, not once per connection."""
    ref = f"{open_lab.tls_host}/library/layers"
    with regkit.Client(docker_config=False, ca_cert=lab_ca(open_lab)) as client:
        result = regkit.pull(ref, tmp_path / "l.tar", client=client, jobs=3, cache=False, layer_format="keep")
    connections = ssl_calls["wrap_socket"]
    assert connections >= 3 and len([e for e in result.exchanges if e.url.startswith("https://")]) >= 7
    assert ssl_calls["load_verify_locations"] == 1 and ssl_calls["load_default_certs"] == 0


def test_an_insecure_registry_loads_no_trust_store(open_lab, tmp_path, ssl_calls):
    with regkit.Client(insecure=True, docker_config=False) as client:
        regkit.pull(f"{open_lab.tls_host}/library/busybox", tmp_path / "s.tar", client=client, cache=False)
    assert ssl_calls["wrap_socket"] >= 1
    assert (
        ssl_calls["load_verify_locations"] + ssl_calls["load_default_certs"] + ssl_calls["set_default_verify_paths"]
        == 0
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the Client silences it
@pytest.mark.parametrize("verify", [True, False])
def test_tls_connections_share_one_context_and_an_unverified_one_loads_no_ca(open_lab, verify):
    # urllib3 alone builds a context per connection and loads a whole CA bundle into each (~50 ms of CPU),
    # even for an unverified one, which loads the system store it never reads.
    transport = Transport(tls=TlsSettings([lab_ca(open_lab)]))
    try:
        # Two bodies left unread hold two connections at once.
        answers = [transport.send("probe", "GET", f"https://{open_lab.tls_host}/v2/", verify=verify) for _ in "ab"]
        first, second = (answer.raw.raw.connection.sock for answer in answers)
        assert first is not second and first.context is second.context
        authorities = first.context.cert_store_stats()["x509_ca"]  # the system store and the lab's, or none
        assert authorities > 1 if verify else authorities == 0
        for answer in answers:
            answer.close()
    finally:
        transport.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the Client silences it
def test_a_shared_context_still_checks_the_name_after_an_unverified_request(open_lab):
    # The lab's certificate names 127.0.0.1 only; the shared contexts must not carry CERT_NONE over.
    port = open_lab.tls_host.rsplit(":", 1)[1]
    transport = Transport(tls=TlsSettings([lab_ca(open_lab)]))
    try:
        transport.send("probe", "GET", f"https://{open_lab.tls_host}/v2/", verify=False).close()
        transport.send("probe", "GET", f"https://{open_lab.tls_host}/v2/").close()
        with pytest.raises(TransportError, match="Hostname mismatch") as info:
            transport.send("probe", "GET", f"https://localhost:{port}/v2/")
        assert info.value.kind == "tls"
    finally:
        transport.close()


def test_a_new_connection_does_not_read_the_ca_bundle_again(open_lab):
    # The bundle is read once into the shared context: spoil the file after the first connection and a
    # second one (the first still holds its connection) verifies all the same.
    transport = Transport(tls=TlsSettings([lab_ca(open_lab)]))
    try:
        first = transport.send("probe", "GET", f"https://{open_lab.tls_host}/v2/")
        bundle, _ = transport.tls.verify(open_lab.tls_host)
        Path(bundle).write_text("not a certificate\n")
        second = transport.send("probe", "GET", f"https://{open_lab.tls_host}/v2/")  # no TransportError: verified
        assert second.exchange.status == first.exchange.status  # the registry's own answer (401: it wants a token)
        assert first.raw.raw.connection.sock is not second.raw.raw.connection.sock
        first.close()
        second.close()
    finally:
        transport.close()
