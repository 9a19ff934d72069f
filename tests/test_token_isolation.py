"""Tokens and credentials stay with the registry they are for (issue 10, item 1).

Registry A is the open lab (token auth, ``private/*`` for the lab user only). Registry B is a real
nginx that answers every request 401 with A's own challenge (realm, service and scope copied), as a
hostile registry would to harvest A's token, and logs the ``Authorization`` it receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import regkit
from regkit.lab import Lab
from regkit.lab.nginx import nginx_process, write_config
from regkit.lab.process import pick_port


def challenge_of(lab: Lab) -> str:
    """A's WWW-Authenticate for its private image."""
    answer = requests.head(f"http://{lab.front_host}/v2/private/busybox/manifests/latest", timeout=10)
    assert answer.status_code == 401
    return answer.headers["WWW-Authenticate"]


@pytest.fixture
def echoing_registry(open_lab, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """nginx on a port of its own: 401 with A's challenge to everything; logs the Authorization it got."""
    port = pick_port()
    challenge = challenge_of(open_lab).replace("'", "")
    log = tmp_path / "hostile.log"
    write_config(
        tmp_path,
        f"""worker_processes 1;
error_log {tmp_path}/error.log;
pid {tmp_path}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp_path}/tmp/body;
    proxy_temp_path {tmp_path}/tmp/proxy;
    fastcgi_temp_path {tmp_path}/tmp/fastcgi;
    uwsgi_temp_path {tmp_path}/tmp/uwsgi;
    scgi_temp_path {tmp_path}/tmp/scgi;
    log_format stolen 'authorization=[$http_authorization]';
    access_log {log} stolen;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            add_header Docker-Distribution-API-Version registry/2.0 always;
            add_header WWW-Authenticate '{challenge}' always;
            return 401 '{{"errors":[{{"code":"UNAUTHORIZED","message":"authentication required"}}]}}';
        }}
    }}
}}
""",
    )
    with nginx_process(tmp_path, [port]):
        yield f"127.0.0.1:{port}", log


def received(log: Path) -> list[str]:
    return [line.strip()[len("authorization=[") : -1] for line in log.read_text().splitlines()]


def test_a_registry_echoing_another_registrys_challenge_never_gets_its_token(open_lab, echoing_registry, tmp_path):
    hostile, log = echoing_registry
    client = regkit.Client(insecure=True, auth=open_lab.credentials)
    pulled = regkit.get_manifest(f"{open_lab.front_host}/private/busybox", client=client)
    a_token = pulled.token.value
    assert pulled.token.kind == "bearer" and a_token
    with pytest.raises(regkit.RegkitError):
        regkit.get_manifest(f"{hostile}/private/busybox", client=client)
    sent = received(log)
    assert sent, "the hostile registry was asked"
    assert not any(a_token in value for value in sent), "registry A's token went to registry B"
    # B got a token of its own: asked without A's credentials, so it carries no access to A's image.
    b_tokens = [t for t in client.tokens.values() if t.registry.endswith(hostile)]
    assert b_tokens and all(t.value != a_token for t in b_tokens)
    assert all(not t.claims or not t.claims.access for t in b_tokens)


def test_credentials_for_one_registry_never_answer_another_registrys_challenge(open_lab, echoing_registry):
    hostile, _ = echoing_registry
    user, password = open_lab.credentials
    client = regkit.Client(insecure=True, auth=(user, password), docker_config=False)
    regkit.get_token(f"{open_lab.front_host}/private/busybox", client=client)  # binds them to A
    first = len(client.transcript)
    with pytest.raises(regkit.RegkitError):
        regkit.get_manifest(f"{hostile}/private/busybox", client=client)
    token_requests = [e for e in list(client.transcript)[first:] if e.url.startswith(open_lab.token_url)]
    assert token_requests, "B's challenge sent the client to A's realm"
    assert all(not e.header("authorization") for e in token_requests)
    assert all(name.lower() != "authorization" for e in token_requests for name, _ in e.request_headers)
    # Credentials given for B alone are not A's: A's private image stays closed to them.
    assert client.credentials_for(regkit.resolve(f"{hostile}/x")) is None
