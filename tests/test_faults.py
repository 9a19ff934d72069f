"""Pulls through the lab's fault-injecting proxy: recover where a real client should, fail clearly elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

import regkit
from regkit.http.retry import RetryPolicy
from regkit.lab import Lab

from .helpers import sample


def through(lab: Lab, fault: str, **client_args: object) -> regkit.Client:
    """A client whose registry endpoint is the fault proxy with ``fault``."""
    endpoints = regkit.Endpoints.create(registry=lab.fault_url(fault), insecure=True)
    return regkit.Client(endpoints=endpoints, insecure=True, docker_config=False, **client_args)  # type: ignore[arg-type]


def files_in(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def tar_blobs_match_their_names(path: Path) -> int:
    """How many ``blobs/sha256/<hex>`` members the tar holds, each checked to hash to its name."""
    count = 0
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("blobs/sha256/"):
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                assert regkit.Digest.of(data).hex == member.name.rsplit("/", 1)[1]
                count += 1
    return count


def expected_digest(samples, repository: str, tag: str) -> regkit.Digest:
    return sample(samples, repository, tag).image.digest


def test_a_cut_blob_is_resumed_with_range(open_lab, samples, tmp_path):
    result = regkit.pull("library/whiteout", tmp_path / "w.tar", client=through(open_lab, "cut-blob"), cache=False)
    assert result.manifest.digest == expected_digest(samples, "library/whiteout", "latest")
    resumed = [e for e in result.exchanges if e.note.startswith("resume at byte")]
    assert resumed and all(dict(e.request_headers)["Range"].startswith("bytes=") for e in resumed)
    assert all(e.status == 206 for e in resumed)
    assert tar_blobs_match_their_names(tmp_path / "w.tar") == len(result.blobs) + 1  # and the manifest


def test_a_server_ignoring_range_restarts_cleanly(open_lab, samples, tmp_path):
    result = regkit.pull("library/layers", tmp_path / "l.tar", client=through(open_lab, "cut-norange"), cache=False)
    assert result.manifest.digest == expected_digest(samples, "library/layers", "latest")
    resumed = [e for e in result.exchanges if e.note.startswith("resume at byte")]
    assert resumed and all(e.status == 200 for e in resumed)


def test_429_with_retry_after_is_waited_out(open_lab, samples, tmp_path):
    start = time.monotonic()
    result = regkit.pull("library/busybox:docker", tmp_path / "b.tar", client=through(open_lab, "ratelimit"))
    assert time.monotonic() - start >= 1.0  # Retry-After: 1 was honoured
    limited = [e for e in result.exchanges if e.status == 429]
    assert len(limited) == 1 and "retrying in 1.0 s" in limited[0].note
    assert limited[0].header("ratelimit-remaining") == "0;w=21600"
    assert result.manifest.digest == expected_digest(samples, "library/busybox", "docker")


def test_an_expired_token_mid_pull_is_renewed_and_the_request_retried_once(open_lab, samples, tmp_path):
    result = regkit.pull("library/busybox", tmp_path / "e.tar", client=through(open_lab, "expire-token"), cache=False)
    rejected = [e for e in result.exchanges if e.status == 401 and e.step == "blob"]
    assert len(rejected) == 2  # config and layer: each renewed once, then fine
    assert all("getting a new one" in e.note for e in rejected)
    assert result.manifest.digest == expected_digest(samples, "library/busybox", "latest")


def test_a_flipped_byte_fails_and_leaves_nothing(open_lab, tmp_path):
    with pytest.raises(regkit.DigestMismatch, match="should have digest"):
        regkit.pull("library/whiteout", tmp_path / "f.tar", client=through(open_lab, "flip-blob"), cache=False)
    assert files_in(tmp_path) == []


def test_an_html_manifest_fails_with_who_answered_after_bounded_retries(open_lab, tmp_path):
    client = through(open_lab, "html-manifest", retry=RetryPolicy(attempts=3, backoff=0.01))
    with pytest.raises(regkit.UnexpectedResponse, match=r"HTML/XML page from .*via: 1.1 faulty-proxy"):
        regkit.pull("library/busybox", tmp_path / "h.tar", client=client)
    attempts = [(e.attempt, e.status) for e in client.transcript if e.step == "manifest"]
    assert attempts == [(1, 502), (2, 502), (3, 502)]
    assert files_in(tmp_path) == []


def test_content_encoding_on_a_blob_is_named(open_lab, tmp_path):
    with pytest.raises(regkit.VerificationError) as info:
        regkit.pull("library/busybox", tmp_path / "c.tar", client=through(open_lab, "content-encoding"), cache=False)
    assert "Content-Encoding gzip" in str(info.value)
    assert files_in(tmp_path) == []


def test_a_digest_header_for_other_bytes_is_refused(open_lab, tmp_path):
    with pytest.raises(regkit.DigestMismatch, match="Docker-Content-Digest says"):
        regkit.pull("library/busybox", tmp_path / "d.tar", client=through(open_lab, "wrong-digest-header"))


def test_a_stalled_blob_ends_in_a_clear_timeout(open_lab, tmp_path):
    start = time.monotonic()
    with pytest.raises(regkit.TransportError, match="read timeout"):
        client = through(open_lab, "stall", timeout=(5.0, 1.0))
        regkit.pull("library/whiteout", tmp_path / "s.tar", client=client, cache=False)
    assert time.monotonic() - start < 10
    assert files_in(tmp_path) == []


def test_two_pulls_sharing_a_cache_at_once(open_lab, tmp_path):
    argv = [sys.executable, "-m", "regkit", "pull", f"{open_lab.front_host}/library/whiteout", "--insecure-registry"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "-q"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    runs = [subprocess.Popen([*argv, "-o", f"{n}.tar"], cwd=tmp_path, env=env) for n in (1, 2)]
    assert [p.wait(timeout=120) for p in runs] == [0, 0]
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()
    assert not [p for p in files_in(tmp_path / "cache") if p.name.endswith(".partial")]
