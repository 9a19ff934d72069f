"""Hostile data and hostile timing end in a RegkitError that names the right thing (issue 10).

Real servers where they can play the part: the lab's registry and token service, through its
fault proxy (regkit.lab.faults). The small server below answers what no real registry or proxy
sends on purpose (broken HTTP framing, absurd token responses): a fake, said so on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import regkit
from regkit.http.retry import RetryPolicy
from regkit.http.speed import SpeedLimit
from regkit.lab import imagebuild as ib
from regkit.lab.faults import NESTING
from regkit.lab.upload import push_image
from regkit.oci import mediatypes as mt
from regkit.oci.jwt import JwtClaims
from regkit.oci.manifest import MAX_CONFIG_SIZE
from regkit.steps.progress import Progress

from .helpers import ROOT, Canned, checkout_env, cli, sample, serving
from .test_faults import through

DEEP = b"[" * NESTING + b"]" * NESTING


# --- a deliberately broken server: answers no real registry gives ---------------------------------------------


class Broken(Canned):
    """Each repository name is one kind of misbehaviour (raw framing errors need a socket of our own)."""

    protocol_version = "HTTP/1.1"
    server_version, sys_version = "cloudflare", ""

    def _raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        host = self.headers["Host"]
        name = path.split("/")[2] if path.startswith("/v2/") and path.count("/") > 2 else ""
        if name in ("deeptoken", "hugeexpiry") and "/manifests/" in path and "Authorization" not in self.headers:
            realm = f"http://{host}/token-{name}"
            self.answer(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
        elif path == "/token-deeptoken":
            self.answer(200, b'{"token":"abc","x":' + DEEP + b"}", {"Content-Type": "application/json"})
        elif path == "/token-hugeexpiry":
            self.answer(200, b'{"token":"abc","expires_in":1' + b"0" * 400 + b"}", {"Content-Type": "application/json"})
        elif name == "hugeexpiry":
            self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"none"}]}')
        elif name == "filescheme":
            self.answer(307, b"", {"Location": "file:///etc/passwd"})
        elif name == "badlocation":
            self.answer(307, b"", {"Location": "http://[::1/x"})
        elif name == "badport":
            self.answer(307, b"", {"Location": "http://127.0.0.1:99999/x"})
        elif name == "twolengths":
            self._raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello")
        elif name == "longline":
            self._raw(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
        elif name == "garbage":
            self._raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        elif name == "short":
            self._raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        else:
            self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    with serving(Broken) as host:
        yield host


def plain() -> regkit.Client:
    return regkit.Client(insecure=True, docker_config=False, retry=RetryPolicy(attempts=1))


BLOB = regkit.Digest.of(b"x")


def blob_of(ref: str) -> None:
    regkit.fetch_blob(
        ref,
        regkit.Descriptor(mt.OCI_LAYER_GZIP, BLOB, 100),
        "/nonexistent-dir-unused",
        token=regkit.Token("none"),
        client=plain(),
    )


# --- 9 and 24: nested JSON, absurd numbers --------------------------------------------------------------------


def test_a_deeply_nested_manifest_is_a_manifest_error(open_lab, tmp_path):
    with pytest.raises(regkit.ManifestError, match="nested deeper than"):
        regkit.pull("library/busybox", tmp_path / "n.tar", client=through(open_lab, "nested-json"))


def test_a_deeply_nested_error_body_is_still_reported_by_status(open_lab):
    client = through(open_lab, "nested-error", retry=RetryPolicy(attempts=1))
    with pytest.raises(regkit.UnexpectedResponse, match="500"):
        regkit.get_manifest("library/busybox", client=client)


def test_a_deeply_nested_config_is_a_manifest_error(registry, tmp_path):
    image = ib.build_image([(ib.tar_layer([ib.file("a", b"a")]), "gzip")])
    config = b'{"rootfs":' + DEEP + b"}"
    doc = json.loads(image.manifest)
    doc["config"].update(digest=str(regkit.Digest.of(config)), size=len(config))
    manifest = json.dumps(doc).encode()
    deep = ib.BuiltImage(manifest, image.media_type, config, {**image.blobs, regkit.Digest.of(config): config})
    ref = f"{registry.host}/robust/deepconfig:v1"
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(ref), deep)
    with pytest.raises(regkit.ManifestError, match="nested deeper than"):
        regkit.pull(ref, tmp_path / "c.tar", insecure=True)
    assert list(tmp_path.iterdir()) == []


def test_a_deeply_nested_token_response_is_an_auth_error(broken):
    with pytest.raises(regkit.AuthError, match="not JSON"):
        regkit.get_token(f"{broken}/deeptoken:1", client=plain())


def test_an_absurd_token_lifetime_is_capped_not_an_overflow(broken):
    token = regkit.get_token(f"{broken}/hugeexpiry:1", client=plain())
    assert token.kind == "bearer" and 0 < token.expires_in <= 24 * 3600
    assert not token.expired and token.seconds_left() is not None
    assert JwtClaims({"exp": 10**400, "iat": float("inf")}).expires_at is None


@pytest.mark.parametrize("value", [float("inf"), 1e20, float("nan"), -1.0])
def test_a_bad_timeout_is_refused_by_the_client(value):
    with pytest.raises(regkit.UsageError, match="timeout"):
        regkit.Client(timeout=(10.0, value))


@pytest.mark.parametrize("value", ["nan", "-1", "0", "1e20", "abc"])
def test_a_bad_timeout_is_a_usage_error(value, tmp_path):
    done = cli("pull", "127.0.0.1:9/x", "--timeout", value, cwd=tmp_path)
    assert done.returncode == 2 and "--timeout" in done.stderr and "internal error" not in done.stderr


def test_timeout_inf_means_no_read_timeout(registry, tmp_path):
    done = cli(
        "pull",
        f"{registry.host}/library/busybox",
        "-o",
        "b.tar",
        "--insecure-registry",
        "--timeout",
        "inf",
        "-q",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b.tar").is_file()


# --- 10: the config's size is refused from its descriptor ------------------------------------------------------


def test_an_oversized_config_is_refused_before_it_is_downloaded(registry, tmp_path):
    image = ib.build_image([(ib.tar_layer([ib.file("a", b"a")]), "gzip")])
    doc = json.loads(image.manifest)
    doc["config"]["size"] = MAX_CONFIG_SIZE + 1  # the registry keeps what the manifest says
    big = ib.BuiltImage(json.dumps(doc).encode(), image.media_type, image.config, image.blobs)
    ref = f"{registry.host}/robust/bigconfig:v1"
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(ref), big)
    client = regkit.Client(insecure=True, docker_config=False)
    with pytest.raises(regkit.ManifestError, match="more than 16777216 is refused"):
        regkit.pull(ref, tmp_path / "b.tar", client=client)
    assert not [e for e in client.transcript if e.step == "blob"]  # not one byte of it was asked for


# --- 12: a trickle fails by the low-speed rule ------------------------------------------------------------------


def test_a_trickling_blob_fails_by_the_low_speed_rule(open_lab, tmp_path):
    client = through(open_lab, "trickle", speed_limit=SpeedLimit(100, 1.5), retry=RetryPolicy(attempts=1))
    start = time.monotonic()
    with pytest.raises(regkit.TransportError, match=r"too slowly: .* under the minimum 100 bytes/s over 1.5 s"):
        regkit.pull("library/whiteout", tmp_path / "t.tar", client=client, cache=False)
    assert time.monotonic() - start < 10  # the read timeout (60 s) never fires: a byte comes every 0.2 s
    assert list(tmp_path.iterdir()) == []
    assert any((e.error or "").startswith("too slow") for e in client.transcript)


def test_the_low_speed_rule_options(open_lab, tmp_path):
    argv = [
        "pull",
        "library/whiteout",
        "-o",
        "t.tar",
        "--no-cache",
        "--insecure-registry",
        "--mirror",
        open_lab.fault_url("trickle"),
    ]
    done = cli(*argv, "--min-speed", "100", "--speed-time", "1", "--retries", "0", cwd=tmp_path)
    assert done.returncode == 1 and "arrives too slowly" in done.stderr and "--min-speed" in done.stderr
    assert cli("pull", "x", "--min-speed", "-1", cwd=tmp_path).returncode == 2
    assert cli("pull", "x", "--speed-time", "nan", cwd=tmp_path).returncode == 2


# --- 23: long Retry-After: said, bounded, reported as what it is ----------------------------------------------


def test_a_huge_retry_after_is_not_waited_for_and_reported_as_429(open_lab, tmp_path):
    client = through(open_lab, "retry-forever")
    steps: list[tuple[str, str]] = []

    class Steps(Progress):
        def step(self, name: str, detail: str) -> None:
            steps.append((name, detail))

    start = time.monotonic()
    with pytest.raises(regkit.UnexpectedResponse, match="429") as info:
        regkit.pull("library/busybox", tmp_path / "r.tar", client=client, progress=Steps())
    assert time.monotonic() - start < 5
    assert "3600 s (Retry-After)" in str(info.value)
    assert ("token", "no challenge: the probe was answered 429 Too Many Requests") in steps
    assert not [detail for _, detail in steps if "anonymous" in detail]
    limited = [e for e in client.transcript if e.status == 429]
    assert len(limited) == 2 and all("asks to wait 3600 s (Retry-After)" in e.note for e in limited)


def test_a_retry_wait_is_announced_and_the_total_is_bounded(open_lab, tmp_path):
    said: list[str] = []
    client = through(open_lab, "ratelimit-each")
    client.on_wait = said.append
    regkit.pull("library/busybox:docker", tmp_path / "b.tar", client=client)
    assert len(said) == 1 and "429" in said[0] and "waiting 1 s" in said[0]
    tight = through(open_lab, "ratelimit-each", retry=RetryPolicy(max_wait=0.5))
    with pytest.raises(regkit.UnexpectedResponse, match="429"):  # Retry-After: 1 is more than the 0.5 s allowed
        regkit.pull("library/busybox:docker", tmp_path / "c.tar", client=tight)


def test_the_cli_says_what_it_waits_for(open_lab, tmp_path):
    argv = ["pull", "library/whiteout", "-o", "b.tar", "--insecure-registry", "-q"]
    done = cli(*argv, "--mirror", open_lab.fault_url("ratelimit-each"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "429 Too Many Requests from 127.0.0.1" in done.stderr and "waiting 1 s before attempt 2" in done.stderr
    done = cli(*argv, "--mirror", open_lab.fault_url("ratelimit-each"), "--max-wait", "0.5", cwd=tmp_path)
    assert done.returncode == 1 and "429" in done.stderr


# --- 25: command-line gaps, manifest redirects --------------------------------------------------------------------


def test_top_must_be_positive_and_mirror_not_empty(tmp_path):
    for argv in (["files", "x", "--top", "-5"], ["analyze", "x", "--top", "0"]):
        done = cli(*argv, cwd=tmp_path)
        assert done.returncode == 2 and "--top" in done.stderr
    done = cli("pull", "127.0.0.1:9/x", "--mirror", "", cwd=tmp_path)
    assert done.returncode == 2 and "--mirror is empty" in done.stderr


def test_a_huge_reference_is_not_echoed_in_full(tmp_path):
    done = cli("pull", "a" * 10_000, cwd=tmp_path)
    assert done.returncode == 2 and "(10000 characters)" in done.stderr
    assert len(done.stderr) < 1500


def test_a_redirected_manifest_is_followed_without_authorization(open_lab, samples, tmp_path):
    client = through(open_lab, "redirect-manifest")
    result = regkit.pull("library/busybox:docker", tmp_path / "m.tar", client=client)
    assert result.manifest.digest == sample(samples, "library/busybox", "docker").image.digest
    hops = [e for e in result.manifest.exchanges if e.note.startswith("redirect 1")]
    assert hops and hops[0].status == 200 and "Authorization" not in dict(hops[0].request_headers)
    assert any("Authorization" in dict(e.request_headers) for e in result.manifest.exchanges if e.status == 307)


def test_a_redirected_manifest_pinned_by_digest_is_verified(open_lab, samples, tmp_path):
    pinned = sample(samples, "library/busybox", "multiarch").image.digest
    client = through(open_lab, "redirect-manifest")
    result = regkit.get_manifest(f"library/busybox@{pinned}", client=client, platform="linux/amd64")
    assert result.index is not None and result.index.digest == pinned
    assert len([e for e in result.exchanges if e.status == 307]) == 2  # the index and the chosen manifest


# --- 26: messages that name the right thing -------------------------------------------------------------------


def test_a_file_redirect_is_refused_by_name(broken):
    with pytest.raises(regkit.UnexpectedResponse, match=r"redirect to a file: URL refused") as info:
        blob_of(f"{broken}/filescheme:1")
    assert "redirect to  " not in str(info.value)


@pytest.mark.parametrize("name", ["badlocation", "badport"])
def test_a_malformed_location_is_named_not_a_value_error(broken, name):
    with pytest.raises(regkit.UnexpectedResponse, match="malformed Location") as info:
        blob_of(f"{broken}/{name}:1")
    assert "ValueError" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("twolengths", "conflicting Content-Length"),
        ("longline", "header line longer than"),
        ("garbage", "not an HTTP status line"),
        ("short", "closed the connection after 10 of 100 bytes"),
    ],
)
def test_broken_http_is_described_not_quoted(broken, name, said):
    with pytest.raises(regkit.RegkitError) as info:
        blob_of(f"{broken}/{name}:1")
    text = str(info.value)
    assert said in text
    for raw in ("InvalidHeader", "LineTooLong", "BadStatusLine", "IncompleteRead", "ProtocolError"):
        assert raw not in text


def test_a_gzip_encoded_manifest_gets_a_hint(open_lab):
    with pytest.raises(regkit.RegkitError) as info:
        regkit.get_manifest("library/busybox", client=through(open_lab, "gzip-manifest"))
    assert info.value.hint and "gzip-encoded" in info.value.hint


# --- 17: the CLI tests run this checkout -----------------------------------------------------------------------


def test_cli_subprocesses_run_this_checkout_even_without_pythonpath(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)  # an installed regkit (/work/main's, say) would win then
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith(f" from {ROOT / 'regkit'}")
    assert Path(regkit.__file__).resolve() == ROOT / "regkit" / "__init__.py"


# --- 21: -o replaces only a missing path or a regular file, checked before any request ---------------------


@pytest.mark.parametrize("kind", ["empty", "directory", "symlink", "device", "fifo"])
def test_an_output_that_is_no_regular_file_is_refused_before_any_request(kind, tmp_path):
    output: str | Path = tmp_path / "out.tar"
    if kind == "empty":
        output = ""
    elif kind == "directory":
        Path(output).mkdir()
    elif kind == "symlink":
        (tmp_path / "precious").write_text("keep")
        Path(output).symlink_to(tmp_path / "precious")
    elif kind == "device":
        output = "/dev/null"
    else:
        os.mkfifo(output)
    client = regkit.Client(insecure=True, docker_config=False)
    error = regkit.InvalidOption if kind == "empty" else regkit.OutputError
    with pytest.raises(error, match="output path"):
        regkit.pull("127.0.0.1:9/x", output, client=client)
    assert len(client.transcript) == 0  # refused before the first request
    if kind == "symlink":
        assert (tmp_path / "precious").read_text() == "keep"


def test_the_cli_refuses_an_output_that_is_a_directory(tmp_path):
    done = cli("pull", "127.0.0.1:9/x", "-o", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1 and "is a directory" in done.stderr and "request" not in done.stderr
    done = cli("pull", "127.0.0.1:9/x", "-o", "", cwd=tmp_path)
    assert done.returncode == 2 and "output path is empty" in done.stderr


# --- 22: Ctrl-C, SIGTERM and SIGHUP clean up alike; dead pulls' work is removed next time ----------------


@pytest.mark.parametrize(
    ("signum", "said"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")]
)
def test_a_signal_during_a_download_leaves_no_output(open_lab, tmp_path, signum, said):
    argv = [sys.executable, "-m", "regkit", "pull", "library/whiteout", "-o", "i.tar", "--insecure-registry", "-q"]
    argv += ["--mirror", open_lab.fault_url("stall"), "--no-cache"]
    process = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=checkout_env())
    deadline = time.monotonic() + 30
    # The partial output (.regkit-<pid>-…) appears once the manifest is in and the blobs start.
    while not any(p.name.startswith(".regkit-") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(p.name.startswith(".regkit-") for p in tmp_path.iterdir()), "the download never started"
    time.sleep(0.5)  # into the stalled blob reads
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=15)  # not the 20 s stall: blocked reads are broken off
    assert process.returncode == 128 + signum and said in stderr  # 130 for Ctrl-C, as shells report it
    assert list(tmp_path.iterdir()) == []


def test_work_directories_of_dead_pulls_are_removed(registry, tmp_path):
    dead_pid = subprocess.Popen(["true"])  # a process that has ended: its id is free
    dead_pid.wait()
    stale = tmp_path / f".regkit-{dead_pid.pid}-abc123"
    (stale / "blobs").mkdir(parents=True)
    (stale / "blobs" / "x.partial").write_bytes(b"left by a kill -9")
    live = tmp_path / f".regkit-{os.getpid()}-def456"  # a pull still running (this process) keeps its own
    live.mkdir()
    foreign = tmp_path / ".regkit-abcdef"  # no owner recorded: not ours to judge
    foreign.mkdir()
    done = cli("pull", f"{registry.host}/library/busybox", "-o", "b.tar", "--insecure-registry", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and live.is_dir() and foreign.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["b.tar", live.name, foreign.name])
