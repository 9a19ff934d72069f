"""The lab's registry dialects: every one pulls, and each answers as the registry it copies, seen on the wire.

One lab per dialect for the module, all sharing the session's docker-registry (``registry``), so a
dialect costs a front process and an nginx. Facts asserted here come from
``/work/shared/notes/registry-dialects.md`` (see :mod:`regkit.lab.dialects`).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import regkit
from regkit.http.endpoints import Endpoints
from regkit.lab import Lab
from regkit.lab.dialectlab import DialectLab
from regkit.lab.dialects import ACR_NULL_USER, DIALECTS, GAR_KEY_USER
from regkit.lab.dialecttags import page_tags
from regkit.lab.signedurls import check_signed, signed_location

from .helpers import DIALECT_NAMES, cli, started_dialect_labs

PRIVATE = "private/busybox:latest"
PUBLIC = "library/busybox:latest"
ECR_EXPIRED = "Your authorization token has expired. Reauthenticate and try again."


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory, registry) -> Iterator[dict[str, DialectLab]]:
    """Every dialect's lab, started once, in front of the session's registry."""
    with started_dialect_labs(tmp_path_factory, registry, DIALECT_NAMES, "dialect") as started:
        yield started


def raw() -> requests.Session:
    """A plain requests session that ignores proxies and never follows redirects by itself."""
    session = requests.Session()
    session.trust_env = False
    return session


def challenge_of(client: regkit.Client) -> str:
    """The first WWW-Authenticate the client saw."""
    for exchange in client.transcript:
        for name, value in exchange.response_headers:
            if name.lower() == "www-authenticate":
                return value
    raise AssertionError("no challenge on the wire")


def header(exchange, name: str) -> str | None:
    """A response header of an exchange."""
    return next((v for k, v in exchange.response_headers if k.lower() == name.lower()), None)


def sent_authorization(exchange) -> bool:
    """Whether the request carried Authorization."""
    return any(k.lower() == "authorization" for k, _ in exchange.request_headers)


def assert_storage_never_saw_authorization(lab: DialectLab) -> None:
    """The storage host's own log: requests arrived, none with Authorization."""
    lines = lab.storage_requests()
    assert lines, "no request reached the storage host"
    assert all(line.endswith("auth=no") for line in lines), lines


# -- pulls --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_cli_pull_private_with_the_dialects_credentials_and_no_secret_in_the_logs(labs, tmp_path, name):
    lab = labs[name]
    before = len(lab.storage_requests())
    ref = f"{lab.registry}/{PRIVATE}"
    args = ("pull", ref, "-o", "o.tar", "--insecure-registry", "--no-cache", "-u", lab.username, "--password-stdin")
    done = cli(*args, stdin=lab.password + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.tar").stat().st_size > 1_000_000
    assert_storage_never_saw_authorization(lab)
    assert len(lab.storage_requests()) > before
    # The lab's own logs keep none of its secrets.
    logs = "".join(p.read_text(errors="replace") for p in lab.state_dir.rglob("*.log"))
    assert "/v2/private/busybox/manifests/latest" in logs
    for secret in (lab.password, lab.settings.secret, "X-Amz-Signature=", "sig=", "Signature="):
        assert secret not in logs
    assert re.search(r"/downloads/(?!<download token>)", logs) is None  # Artifact Registry's opaque token


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_cli_pull_public_anonymously_where_the_registry_allows_it(labs, tmp_path, name):
    lab = labs[name]
    done = cli("pull", f"{lab.registry}/{PUBLIC}", "-o", "o.tar", "--insecure-registry", "--no-cache", cwd=tmp_path)
    if lab.spec.anonymous:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 1
        assert not (tmp_path / "o.tar").exists()


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_cli_pull_with_the_dialect_lab_as_mirror(labs, tmp_path, name):
    lab = labs[name]
    args = ("pull", "busybox:latest", f"--mirror=http://{lab.registry}", "--mirror-only", "--insecure-registry")
    login = ("-u", lab.username, "--password-stdin")
    done = cli(*args, "-o", "o.tar", "--no-cache", *login, stdin=lab.password + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.tar").stat().st_size > 1_000_000
    assert_storage_never_saw_authorization(lab)


def five_steps(client: regkit.Client, ref: str, tmp_path: Path) -> regkit.AssembledImage:
    """resolve, get_token, get_manifest, fetch_blob (each blob), assemble."""
    reference = regkit.resolve(ref)
    token = regkit.get_token(reference, client=client)
    manifest = regkit.get_manifest(reference, token=token, client=client)
    for descriptor in (manifest.config, *manifest.layers):
        regkit.fetch_blob(reference, descriptor, tmp_path / "blobs", token=token, client=client)
    return regkit.assemble(manifest, tmp_path / "blobs", tmp_path / "o.tar")


@pytest.mark.parametrize("mirror", [False, True], ids=["direct", "mirror"])
@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_five_steps_pull_and_the_wire_shows_the_dialect(labs, tmp_path, name, mirror):
    lab, spec = labs[name], labs[name].spec
    endpoints = Endpoints.from_env({}, mirror=f"http://{lab.registry}", insecure=True) if mirror else None
    ref = "busybox:latest" if mirror else f"{lab.registry}/{PRIVATE}"
    with regkit.Client(insecure=True, auth=lab.credentials, endpoints=endpoints, docker_config=False) as client:
        image = five_steps(client, ref, tmp_path)
        exchanges = list(client.transcript)
    assert image.path.stat().st_size > 1_000_000
    scope = f'scope="repository:{"library/busybox" if mirror else "private/busybox"}:pull"'
    service = f'service="{lab.service}"' if spec.quote_service else f"service={lab.service}"
    if spec.scheme == "Basic":
        assert challenge_of(client) == f'Basic realm="http://{lab.registry}/",service="ecr.amazonaws.com"'
        assert not any(urlsplit(e.url).path == "/token" for e in exchanges)
    elif spec.tokenless_public and mirror:
        # Quay serves a public repository without a token: no challenge, no token service.
        assert not any(e.status == 401 for e in exchanges)
    else:
        assert challenge_of(client) == f'Bearer realm="{lab.realm}",{service},{scope}'
        token_calls = [e for e in exchanges if e.url.startswith(lab.realm + "?")]
        assert token_calls and all(e.status == 200 for e in token_calls)
    blob_gets = [e for e in exchanges if e.method == "GET" and "/blobs/sha256:" in e.url and e.status in (302, 307)]
    assert blob_gets and {e.status for e in blob_gets} == {spec.redirect_status}
    for e in blob_gets:
        location = header(e, "Location") or ""
        assert (header(e, "Docker-Content-Digest") is not None) == spec.digest_on_redirect
        keys = set(parse_qs(urlsplit(location).query))
        if spec.redirect == "relative":
            assert location.startswith("/artifacts-downloads/namespaces/")
        else:
            assert location.startswith(f"http://{lab.storage_host}/")
        expected_keys = {
            "s3": {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"}
            | {"X-Amz-Signature"},
            "azure": {"sv", "se", "sr", "sp", "sig"},
            "gcs": {"Expires", "KeyName", "Signature"},
            "relative": set(),
        }[spec.redirect]
        assert keys == expected_keys | set(spec.signed_extras)
    storage = [e for e in exchanges if urlsplit(e.url).path.startswith(("/registry-v2/", "/artifacts-downloads/"))]
    assert storage and all(e.status == 200 for e in storage)
    # regkit sends Authorization on no redirect, not even to Artifact Registry's own host.
    assert not any(sent_authorization(e) for e in storage)
    # Azure's and Google's storage answer without the registry's digest header; S3 too.
    assert all(header(e, "Docker-Content-Digest") is None for e in storage)
    assert_storage_never_saw_authorization(lab)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_docker_logs_in_and_pulls_from_every_dialect(labs, engine, name):
    # The real client the dialects were written against: Docker's own login and pull.
    lab = labs[name]
    ref = f"{lab.registry}/{PRIVATE}"
    engine.run("login", lab.registry, "-u", lab.username, "--password-stdin", input=lab.password + "\n")
    try:
        engine.run("pull", ref, timeout=120)
        assert engine.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.startswith("sha256:")
    finally:
        engine.run("logout", lab.registry, check=False)
        engine.run("rmi", ref, check=False)
    assert all(line.endswith("auth=no") for line in lab.storage_requests())


# -- challenges and token answers ----------------------------------------------------------------------


def test_quay_root_answers_401_with_the_body_true(labs):
    answer = raw().get(f"http://{labs['quay'].registry}/v2/")
    assert (answer.status_code, answer.text) == (401, "true")
    assert answer.headers["WWW-Authenticate"].startswith(f'Bearer realm="http://{labs["quay"].registry}/v2/auth"')


def test_gar_root_challenge_names_no_service_and_repository_ones_an_unquoted_one(labs):
    lab = labs["gar"]
    root = raw().get(f"http://{lab.registry}/v2/")
    assert root.headers["WWW-Authenticate"] == f'Bearer realm="http://{lab.registry}/v2/token"'
    repo = raw().get(f"http://{lab.registry}/v2/library/busybox/manifests/latest")
    assert "service=us-docker.pkg.dev," in repo.headers["WWW-Authenticate"]


EXPECTED_TOKEN_FIELDS = {
    "ghcr": {"token"},
    "quay": {"token"},
    "gar": {"token", "access_token", "expires_in"},
    "acr": {"access_token"},
    "harbor": {"token", "expires_in", "issued_at"},
    "gitlab": {"token"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TOKEN_FIELDS))
def test_token_answer_fields(labs, name):
    lab = labs[name]
    params = {"service": lab.service, "scope": f"repository:{PRIVATE.split(':')[0]}:pull"}
    answer = raw().get(lab.realm, params=params, auth=lab.credentials)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == EXPECTED_TOKEN_FIELDS[name]


def test_gitlab_token_service_has_a_host_of_its_own(labs):
    lab = labs["gitlab"]
    assert lab.auth_host != lab.registry and lab.realm == f"http://{lab.auth_host}/jwt/auth"
    assert raw().get(f"http://{lab.registry}/jwt/auth").status_code == 404


def test_ecr_has_no_token_service_and_refuses_anonymous_and_wrong_passwords(labs):
    lab = labs["ecr"]
    url = f"http://{lab.registry}/v2/{PUBLIC.replace(':', '/manifests/')}"
    assert raw().get(url).status_code == 401
    assert raw().get(url, auth=("AWS", "not-a-token")).status_code == 401
    assert raw().get(url, auth=lab.credentials, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).ok


# -- denials -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,status,message",
    [
        ("ghcr", 403, "requested access to the resource is denied"),
        (
            "gar",
            403,
            'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
            '"projects/regkit-lab/locations/us/repositories/private/busybox" (or it may not exist)',
        ),
    ],
)
def test_anonymous_private_pull_is_denied_at_the_token_service(labs, name, status, message):
    lab = labs[name]
    answer = raw().get(lab.realm, params={"service": lab.service, "scope": "repository:private/busybox:pull"})
    assert answer.status_code == status
    assert answer.json() == {"errors": [{"code": "DENIED", "message": message}]}


@pytest.mark.parametrize("name", ["quay", "harbor", "gitlab"])
def test_anonymous_private_pull_gets_an_empty_token_and_the_registry_refuses(labs, name):
    lab = labs[name]
    token = raw().get(lab.realm, params={"service": lab.service, "scope": "repository:private/busybox:pull"}).json()
    manifest = raw().get(
        f"http://{lab.registry}/v2/private/busybox/manifests/latest",
        headers={"Authorization": f"Bearer {token['token']}"},
    )
    assert manifest.status_code == 401
    assert 'error="insufficient_scope"' in manifest.headers["WWW-Authenticate"]
    assert manifest.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_ecr_expired_password_is_denied_with_ecrs_words(labs, tmp_path):
    lab = labs["ecr"]
    ref = f"{lab.registry}/{PRIVATE}"
    args = ("pull", ref, "-o", "o.tar", "--insecure-registry", "--no-cache", "-u", "AWS", "--password-stdin")
    done = cli(*args, stdin=lab.expired_password() + "\n", cwd=tmp_path)
    assert done.returncode == 1
    assert ECR_EXPIRED in done.stderr
    password = json.loads(base64.b64decode(lab.password))
    assert password["expiration"] - time.time() == pytest.approx(12 * 3600, abs=600)


def test_gar_access_token_expires_and_json_key_logs_in(labs):
    lab = labs["gar"]
    params = {"service": lab.service, "scope": "repository:private/busybox:pull"}
    expired = raw().get(lab.realm, params=params, auth=("oauth2accesstoken", lab.expired_password()))
    assert expired.status_code == 401 and "expired" in expired.json()["errors"][0]["message"]
    assert raw().get(lab.realm, params=params, auth=(GAR_KEY_USER, lab.json_key)).status_code == 200
    assert raw().get(lab.realm, params=params, auth=(GAR_KEY_USER, lab.json_key + " ")).status_code == 401


# -- ACR's OAuth2 surface (what clients with identity tokens use), with plain requests -----------------


def acr_manifest(lab: DialectLab, access_token: str) -> requests.Response:
    return raw().get(
        f"http://{lab.registry}/v2/private/busybox/manifests/latest",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.oci.image.manifest.v1+json"},
    )


def test_acr_refresh_token_post_grants_an_access_token_only(labs):
    lab = labs["acr"]
    form = {
        "grant_type": "refresh_token",
        "service": lab.service,
        "scope": "repository:private/busybox:pull",
        "refresh_token": lab.identity_token,
        "client_id": "docker",
    }
    answer = raw().post(lab.realm, data=form)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"access_token"}
    assert acr_manifest(lab, answer.json()["access_token"]).status_code == 200
    expired = raw().post(lab.realm, data={**form, "refresh_token": lab.expired_password()})
    assert expired.status_code == 401


def test_acr_password_grant_and_get_with_the_null_guid(labs):
    lab = labs["acr"]
    scope = "repository:private/busybox:pull"
    form = {"grant_type": "password", "service": lab.service, "scope": scope}
    posted = raw().post(lab.realm, data={**form, "username": ACR_NULL_USER, "password": lab.identity_token})
    assert acr_manifest(lab, posted.json()["access_token"]).status_code == 200
    got = raw().get(lab.realm, params={"service": lab.service, "scope": scope}, auth=(ACR_NULL_USER, lab.password))
    assert set(got.json()) == {"access_token"}
    assert raw().get(lab.realm, params={"service": lab.service, "scope": scope}).status_code == 401


def test_acr_exchange_turns_an_aad_token_into_a_refresh_token(labs):
    lab = labs["acr"]
    url = f"http://{lab.registry}/oauth2/exchange"
    exchanged = raw().post(
        url, data={"grant_type": "access_token", "service": lab.service, "access_token": lab.aad_token}
    )
    assert exchanged.status_code == 200
    refresh = exchanged.json()["refresh_token"]
    form = {"grant_type": "refresh_token", "service": lab.service, "scope": "repository:private/busybox:pull"}
    answer = raw().post(lab.realm, data={**form, "refresh_token": refresh})
    assert acr_manifest(lab, answer.json()["access_token"]).status_code == 200
    assert raw().post(url, data={"grant_type": "access_token", "access_token": "forged"}).status_code == 401


# -- storage hosts' rules ------------------------------------------------------------------------------


def blob_location(lab: DialectLab) -> str:
    """A fresh redirect Location for the busybox layer, asked with the lab's credentials."""
    with regkit.Client(insecure=True, auth=lab.credentials, docker_config=False) as client:
        manifest = regkit.get_manifest(f"{lab.registry}/{PRIVATE}", client=client)
    token = ""
    if lab.spec.scheme == "Bearer":
        params = {"service": lab.service, "scope": "repository:private/busybox:pull"}
        doc = raw().get(lab.realm, params=params, auth=lab.credentials).json()
        token = doc.get("token") or doc["access_token"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://{lab.registry}/v2/private/busybox/blobs/{manifest.layers[0].digest}"
    answer = raw().get(url, headers=headers, auth=None if token else lab.credentials, allow_redirects=False)
    assert answer.status_code == lab.spec.redirect_status
    return answer.headers["Location"]


@pytest.mark.parametrize("name", ["ecr", "quay", "harbor"])
def test_s3_storage_rules(labs, name):
    lab = labs[name]
    location = blob_location(lab)
    assert raw().get(location).status_code == 200
    both = raw().get(location, headers={"Authorization": "Bearer something"})
    assert both.status_code == 400
    assert "<Code>InvalidArgument</Code>" in both.text and "Only one auth mechanism allowed" in both.text
    assert raw().head(location).status_code == 403  # signed for GET only
    hex_digest = urlsplit(location).path.rsplit("/", 2)[-2]
    old = signed_location(
        "s3", f"http://{lab.storage_host}", hex_digest, lab.settings.secret, 600, now=time.time() - 3600
    )
    expired = raw().get(old)
    assert expired.status_code == 403 and "Request has expired" in expired.text


@pytest.mark.parametrize("name,kind", [("ghcr", "azure"), ("acr", "azure"), ("gitlab", "gcs")])
def test_azure_and_google_storage_answer_without_the_digest_and_refuse_expired_urls(labs, name, kind):
    lab = labs[name]
    location = blob_location(lab)
    answer = raw().get(location)
    assert answer.status_code == 200 and "Docker-Content-Digest" not in answer.headers
    if kind == "azure":
        assert answer.headers["x-ms-blob-type"] == "BlockBlob"
    hex_digest = urlsplit(location).path.rsplit("/", 2)[-2]
    old = signed_location(
        kind, f"http://{lab.storage_host}", hex_digest, lab.settings.secret, 600, now=time.time() - 3600
    )
    assert raw().get(old).status_code == 403
    tampered = location.replace("sig=", "sig=A").replace("Signature=", "Signature=A")
    assert raw().get(tampered).status_code == 403


def test_gar_relative_location_is_served_on_the_same_host(labs):
    lab = labs["gar"]
    location = blob_location(lab)
    assert location.startswith("/artifacts-downloads/namespaces/regkit-lab/repositories/private%2Fbusybox/downloads/")
    assert raw().get(f"http://{lab.registry}{location}").status_code == 200
    assert raw().get(f"http://{lab.registry}{location[:-3]}xyz").status_code == 403


# -- tag paging ------------------------------------------------------------------------------------------


def all_pages(lab: DialectLab, n: int) -> tuple[list[str], list[str]]:
    """Follow Link headers from the first page of library/busybox's tags: (tags, links)."""
    token = ""
    if lab.spec.scheme == "Bearer":
        params = {"service": lab.service, "scope": "repository:library/busybox:pull"}
        doc = raw().get(lab.realm, params=params, auth=lab.credentials).json()
        token = doc.get("token") or doc["access_token"]
    session = raw()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    else:
        session.auth = lab.credentials
    url = f"http://{lab.registry}/v2/library/busybox/tags/list?n={n}"
    tags, links = [], []
    while url:
        answer = session.get(url)
        assert answer.status_code == 200, answer.text
        tags += answer.json()["tags"]
        link = answer.headers.get("Link")
        links += [link] if link else []
        url = f"http://{lab.registry}{link.split(';')[0].strip('<>')}" if link else ""
    return tags, links


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_tag_paging(labs, name):
    lab = labs[name]
    tags, links = all_pages(lab, 3)
    assert sorted(tags) == ["docker", "latest", "manifest-list", "multiarch"]
    assert len(links) == 1
    query = parse_qs(urlsplit(links[0].split(";")[0].strip("<>")).query, keep_blank_values=True)
    if lab.spec.paging == "ecr":
        assert query["last"][0] not in tags  # an opaque cursor
    else:
        assert query["last"] == ["manifest-list"]  # the third of docker, latest, manifest-list, multiarch
    assert ("orderby" in query) == (name == "acr")


def test_ecr_refuses_more_than_1000_results(labs):
    lab = labs["ecr"]
    answer = raw().get(f"http://{lab.registry}/v2/library/busybox/tags/list?n=1001", auth=lab.credentials)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert "maxResults" in answer.json()["errors"][0]["message"]
    forged = raw().get(f"http://{lab.registry}/v2/library/busybox/tags/list?n=2&last=latest", auth=lab.credentials)
    assert forged.status_code == 400


def test_gar_tag_list_carries_googles_fields(labs):
    lab = labs["gar"]
    doc = raw().get(lab.realm, params={"service": lab.service, "scope": "repository:library/busybox:pull"}).json()
    answer = raw().get(
        f"http://{lab.registry}/v2/library/busybox/tags/list", headers={"Authorization": f"Bearer {doc['token']}"}
    )
    assert set(answer.json()) == {"child", "manifest", "name", "tags"}


# -- the command line ------------------------------------------------------------------------------------


def test_lab_up_refuses_hub_options_with_a_dialect(tmp_path):
    done = cli("lab", "--dir", str(tmp_path / "lab"), "up", "--dialect", "ecr", "--large", "2", cwd=tmp_path)
    assert done.returncode == 2 and "--large: for the hub lab only" in done.stderr
    assert not (tmp_path / "lab").exists()


def test_lab_dialects_lists_each_on_one_line(tmp_path):
    done = cli("lab", "dialects", cwd=tmp_path)
    assert done.returncode == 0
    assert [line.split()[0] for line in done.stdout.splitlines()] == list(DIALECTS)


def test_lab_up_dialect_json_status_and_down(tmp_path):
    state = tmp_path / "lab"
    up = cli("lab", "--dir", str(state), "up", "--dialect", "harbor", "--json", cwd=tmp_path)
    try:
        assert up.returncode == 0, up.stderr
        doc = json.loads(up.stdout)
        assert {"dialect", "registry", "images", "private", "username", "password", "state_dir"} <= set(doc)
        assert doc["dialect"] == "harbor" and doc["username"] == "robot$library+regkit"
        assert f"{doc['registry']}/{PRIVATE}" in doc["private"] and doc["private"][0] in doc["images"]
        status = cli("lab", "--dir", str(state), "status", cwd=tmp_path)
        assert status.returncode == 0 and "harbor dialect" in status.stdout
    finally:
        down = cli("lab", "--dir", str(state), "down", cwd=tmp_path)
    assert down.returncode == 0
    assert not any(Lab(state).running().values())
    # The directory remembers its dialect; any hub option (or dialect="hub") means the hub lab.
    assert isinstance(Lab(state), DialectLab) and not isinstance(Lab(state, mode="hub"), DialectLab)


# -- scope grammar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ghcr", "gar"])
def test_strict_token_services_refuse_a_request_with_an_unknown_extra_scope(labs, name):
    # containerd#9648: a namespacing mirror makes containerd ask for an extra scope; GHCR and GAR refuse it all.
    lab = labs[name]
    good = "repository:library/busybox:pull"
    params = {"service": lab.service, "scope": [good, "repository:docker.io/library/busybox:pull"]}
    refused = raw().get(lab.realm, params=params, auth=lab.credentials)
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "DENIED"
    assert raw().get(lab.realm, params={**params, "scope": good}, auth=lab.credentials).status_code == 200


def test_quay_refuses_unknown_actions_and_harbor_names_without_a_project(labs):
    quay, harbor = labs["quay"], labs["harbor"]
    delete = {"service": quay.service, "scope": "repository:library/busybox:pull,delete"}
    assert raw().get(quay.realm, params=delete, auth=quay.credentials).status_code == 400
    bare = {"service": harbor.service, "scope": "repository:busybox:pull"}
    assert raw().get(harbor.realm, params=bare, auth=harbor.credentials).status_code == 401


def test_a_get_only_token_service_answers_post_with_405(labs):
    lab = labs["ghcr"]
    answer = raw().post(lab.realm, data={"grant_type": "refresh_token", "service": lab.service, "refresh_token": "x"})
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET")


def test_the_hub_lab_has_the_same_properties(open_lab):
    doc = open_lab.summary()
    assert doc["dialect"] == "hub" and doc["registry"] == open_lab.front_host
    assert f"{open_lab.front_host}/{PRIVATE}" in doc["private"] and set(doc["private"]) < set(doc["images"])
    assert (doc["username"], doc["password"]) == open_lab.credentials
    assert Lab(open_lab.state_dir).summary() == doc  # read back from lab.json


def test_a_kernels_dialect_lab_goes_with_its_watchdog():
    lab = Lab.for_kernel(dialect="quay")
    try:
        assert isinstance(lab, DialectLab) and all(lab.running().values())
        assert Lab.for_kernel(dialect="quay") is lab
        answer = raw().get(f"http://{lab.registry}/v2/")
        assert (answer.status_code, answer.text) == (401, "true")
    finally:
        lab.down()
    assert not lab.state_dir.exists()


def test_hub_options_and_unknown_dialects_are_refused(tmp_path):
    with pytest.raises(regkit.errors.LabError, match="takes no pull_through"):
        Lab(tmp_path, dialect="ecr", pull_through=True)
    with pytest.raises(regkit.errors.LabError, match="unknown"):
        Lab(tmp_path, dialect="artifactory")


@pytest.mark.parametrize("name", ["ecr", "ghcr", "gitlab", "gar"])
def test_the_lab_can_hand_out_expired_signed_urls(labs, name):
    lab = labs[name]
    lab.expire_signed_urls(1)
    try:
        stale, fresh = blob_location(lab), blob_location(lab)
    finally:
        lab.expire_signed_urls(0)
    base = "" if stale.startswith("http") else f"http://{lab.registry}"
    assert raw().get(base + stale).status_code == 403
    assert raw().get(base + fresh).status_code == 200


# -- the pure parts, without servers ------------------------------------------------------------------------

TAGS = ["a", "b", "c", "d", "e"]


def test_paging_rules_without_a_server():
    ecr, acr, ghcr = DIALECTS["ecr"], DIALECTS["acr"], DIALECTS["ghcr"]
    assert page_tags(ghcr, "s", "r", TAGS, {"n": "x"}).code == "PAGINATION_NUMBER_INVALID"
    assert page_tags(ghcr, "s", "r", TAGS, {"n": "2000"}).status == 200  # only ECR caps n
    assert page_tags(ecr, "s", "r", TAGS, {"n": "1001"}).code == "UNSUPPORTED"
    first = page_tags(ecr, "s", "r", TAGS, {"n": "2"})
    last = parse_qs(urlsplit(first.link.split(";")[0].strip("<>")).query)["last"][0]
    assert page_tags(ecr, "s", "r", TAGS, {"n": "2", "last": last}).doc["tags"] == ["c", "d"]
    assert page_tags(ecr, "other secret", "r", TAGS, {"n": "2", "last": last}).status == 400
    assert page_tags(acr, "s", "r", TAGS, {"n": "2"}).link == '</v2/r/tags/list?last=b&n=2&orderby=>; rel="next"'
    end = page_tags(ghcr, "s", "r", TAGS, {"n": "2", "last": "e"})
    assert (end.doc["tags"], end.link) == ([], "")


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_signed_urls_without_a_server(kind):
    url = signed_location(kind, "http://storage", "ab" * 32, "secret", 600, extras=("X-Amz-Security-Token", "spr"))
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert check_signed(kind, "GET", parts.path, query, False, "secret") is None
    assert check_signed(kind, "GET", parts.path, query, False, "another secret") is not None
    assert check_signed(kind, "GET", parts.path, query, False, "secret", now=time.time() + 601) is not None
    head = check_signed(kind, "HEAD", parts.path, query, False, "secret")
    assert (head is not None) == (kind == "s3")  # S3 signs the method; SAS sp=r and Google's URLs allow HEAD
    both = check_signed(kind, "GET", parts.path, query, True, "secret")
    assert (both is not None and both.status == 400) == (kind == "s3")


def test_the_command_lines_dialect_names_are_the_specs():
    from regkit.lab.dialects import DIALECTS
    from regkit.lab.modes import DIALECT_NAMES

    assert tuple(DIALECTS) == DIALECT_NAMES
