"""The cache after an interrupted pull (issue 23): signals end a conversion at once, a killed pull's
temporary file is counted and then removed (a live one never), and an unusable cache is never silent.

The layer that keeps a conversion busy is a gzip bomb served by the lab's real docker-registry: 16 MB
of gzip members that inflate to 16 GiB of zeros (the conversion is stopped long before its end).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import regkit
from regkit.lab import imagebuild as ib
from regkit.lab.upload import push_image
from regkit.oci import mediatypes as mt
from regkit.storage.output import owner
from regkit.storage.store import BlobStore

from .helpers import Member, checkout_env, cli, crafted, push

MEMBER = 64 << 20  # zeros per gzip member (~64 KB compressed)
MEMBERS = 256


@pytest.fixture(scope="module")
def bomb(registry) -> tuple[str, regkit.Digest]:
    """A pushed image whose one layer is a gzip bomb: its reference and the bomb's digest."""
    layer = gzip.compress(bytes(MEMBER), compresslevel=9, mtime=0) * MEMBERS
    config = json.dumps(
        {
            "architecture": regkit.Platform.host().architecture,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(regkit.Digest.of(b"never reached"))]},
        }
    ).encode()
    digest = regkit.Digest.of(layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(regkit.Digest.of(config)), "size": len(config)},
        "layers": [{"mediaType": mt.layer_media_type(mt.GZIP, oci=True), "digest": str(digest), "size": len(layer)}],
    }
    image = ib.BuiltImage(
        json.dumps(manifest).encode(), mt.OCI_MANIFEST, config, {digest: layer, regkit.Digest.of(config): config}
    )
    ref = f"{registry.host}/crash/bomb:v1"
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(ref), image)
    return ref, digest


def start_conversion(ref: str, cwd: Path, cache: Path, bomb: regkit.Digest) -> tuple[subprocess.Popen[str], Path]:
    """A ``regkit pull --layer-format tar`` of the bomb, once it converts: the process and its partial file."""
    argv = [sys.executable, "-m", "regkit", "pull", ref, "-o", "bomb.tar", "--layer-format", "tar"]
    argv += ["--insecure-registry", "-q"]
    env = checkout_env({**os.environ, "REGKIT_CACHE_DIR": str(cache)})
    process = subprocess.Popen(argv, cwd=cwd, stderr=subprocess.PIPE, text=True, env=env)
    folder = cache / "blobs/sha256"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        # the downloaded bomb is in place; the growing partial beside it, named after the pull, is the conversion
        if (folder / bomb.hex).is_file():
            owned = folder.glob(f".incoming.{process.pid}-*.partial")
            growing = [p for p in owned if p.stat().st_size > (1 << 20)]
            if growing:
                return process, growing[0]
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"the conversion never started: {process.communicate()[1]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_a_conversion_ends_it_within_a_second_leaving_nothing(bomb, tmp_path, signum):
    ref, digest = bomb
    (tmp_path / "out").mkdir()
    process, partial = start_conversion(ref, tmp_path / "out", tmp_path / "cache", digest)
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 1.0, f"the conversion went on for {took:.2f} s after {signal.Signals(signum).name}"
    assert process.returncode == 128 + signum and "interrupted" in stderr
    assert not partial.exists() and BlobStore(tmp_path / "cache").partials() == []
    assert list((tmp_path / "out").iterdir()) == []  # no output, no work directory


def test_a_killed_pulls_partial_is_counted_then_removed_and_a_live_one_is_kept(registry, bomb, tmp_path):
    ref, digest = bomb
    cache = tmp_path / "cache"
    env = {"REGKIT_CACHE_DIR": str(cache)}
    killed, left = start_conversion(ref, tmp_path, cache, digest)
    killed.kill()
    killed.communicate(timeout=30)
    size = left.stat().st_size
    du = cli("cache", "du", cwd=tmp_path, env=env)
    assert du.returncode == 0, du.stderr
    assert f"temporary files: 1 left by ended pulls, {size} bytes" in du.stdout
    assert left.exists()  # du only measures
    # Another pull converts right now: its partial is live, whoever else uses the cache.
    (tmp_path / "live").mkdir()
    running, live = start_conversion(ref, tmp_path / "live", cache, digest)
    try:
        assert "1 being written" in cli("cache", "du", cwd=tmp_path, env=env).stdout
        busybox = f"{registry.host}/library/busybox"
        pulled = cli("pull", busybox, "-o", "b.tar", "--insecure-registry", cwd=tmp_path, env=env)
        assert pulled.returncode == 0, pulled.stderr
        assert not left.exists() and live.exists()  # the next pull removed the dead one only
        namespace = owner().rsplit("-", 1)[1]
        stale = tmp_path / "cache/verified/sha256" / f".record.{killed.pid}-1-{namespace}.abcd1234"
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_bytes(b"{}")  # a record a killed pull was saving: its owner is gone
        verified = cli("cache", "verify", cwd=tmp_path, env=env)
        assert "removed 1 temporary files left by ended pulls, 2 bytes" in verified.stdout, verified.stdout
        pruned = cli("cache", "prune", "--older-than", "3650d", cwd=tmp_path, env=env)
        assert pruned.returncode == 0 and "temporary files" not in pruned.stdout
        assert live.exists() and not stale.exists() and running.poll() is None
    finally:
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=30)
    assert BlobStore(cache).partials() == []


def test_a_converted_layer_in_the_cache_counts_toward_the_layer_budget(bomb, tmp_path):
    ref, _ = bomb
    argv = ["pull", ref, "-o", "b.tar", "--layer-format", "tar", "--insecure-registry", "--max-layer-bytes", "8M"]
    done = cli(*argv, cwd=tmp_path, env={"REGKIT_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1 and "layer_bytes" in done.stderr and "--max-layer-bytes" in done.stderr
    assert BlobStore(tmp_path / "cache").partials() == [] and not (tmp_path / "b.tar").exists()


def test_a_cache_dir_that_is_a_file_is_a_usage_error_before_any_request(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache should be")
    # nothing listens on port 1: a request would fail with exit 1, not 2
    done = cli("pull", "127.0.0.1:1/any/image", "--cache-dir", str(blocked), "-o", "x.tar", cwd=tmp_path)
    assert done.returncode == 2 and f"{blocked}" in done.stderr and "not a directory" in done.stderr
    with pytest.raises(regkit.InvalidOption, match="not a directory"):
        regkit.pull("127.0.0.1:1/any/image", tmp_path / "x.tar", cache_dir=blocked)
    listed = cli("cache", "--cache-dir", str(blocked), "du", cwd=tmp_path)
    assert listed.returncode == 2 and str(blocked) in listed.stderr


@contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``path`` (tests run as root; root ignores mode bits, not a read-only or full file system)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_cache_pulls_with_one_warning_and_no_cache(registry, tmp_path, monkeypatch):
    ref = f"{registry.host}/library/whiteout:latest"
    with mounted_tmpfs(tmp_path / "ro-cache", "ro,size=1m") as cache:
        monkeypatch.setenv("REGKIT_CACHE_DIR", str(cache))
        done = cli("pull", ref, "-o", "w.tar", "--insecure-registry", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        warnings = [line for line in done.stderr.splitlines() if line.startswith("regkit: warning:")]
        assert len(warnings) == 1 and str(cache) in warnings[0] and "Read-only file system" in warnings[0]
        assert "pulling without a cache" in warnings[0] and "from the cache" not in done.stderr
        with pytest.warns(regkit.CacheWarning, match="pulling without a cache"):
            result = regkit.pull(ref, tmp_path / "p.tar", insecure=True)
        assert not result.cached_blobs and list(cache.iterdir()) == []
        refused = cli("pull", ref, "-o", "x.tar", "--insecure-registry", "--cache-dir", str(cache), cwd=tmp_path)
        assert refused.returncode == 2 and str(cache) in refused.stderr and not (tmp_path / "x.tar").exists()


def test_a_full_cache_is_reported_and_left_alone(registry, tmp_path, monkeypatch):
    ref = f"{registry.host}/library/whiteout:latest"
    with mounted_tmpfs(tmp_path / "full-cache", "size=256k") as cache:
        with pytest.raises(OSError):
            (cache / "filler").write_bytes(bytes(1 << 20))  # until the file system refuses
        monkeypatch.setenv("REGKIT_CACHE_DIR", str(cache))
        with pytest.warns(regkit.CacheWarning, match=f"{cache}.*file system is full"):
            result = regkit.pull(ref, tmp_path / "w.tar", insecure=True)
        assert not result.cached_blobs and [p.name for p in cache.iterdir()] == ["filler"]


def test_a_cache_that_fills_up_during_a_pull_costs_it_a_warning_only(registry, tmp_path, monkeypatch):
    """The disk fills while the blobs enter the cache (copied: the tmpfs is another file system than the output)."""
    monkeypatch.setattr("regkit.storage.cache.MIN_FREE", 1)  # let the nearly full cache pass the check at the start
    ref = f"{registry.host}/library/busybox:latest"
    with mounted_tmpfs(tmp_path / "small-cache", "size=1m") as cache:
        with open(cache / "filler", "wb") as filler:
            filler.write(bytes(1024 * 1024 - 64 * 1024))  # 64 KiB left: less than the busybox layer
        with pytest.warns(regkit.CacheWarning) as said:
            result = regkit.pull(ref, tmp_path / "b.tar", insecure=True, cache_dir=cache)
        messages = [str(w.message) for w in said]
        assert any("No space left on device" in m and "not entered" in m and str(cache) in m for m in messages)
        assert tarfile.is_tarfile(tmp_path / "b.tar") and not result.cached_blobs
        assert BlobStore(cache).partials() == []  # the copy that failed left nothing


def test_a_cache_that_fills_up_during_a_conversion_is_left_for_a_temporary_folder(registry, tmp_path):
    """The converted layer (4 MiB of tar) does not fit the 2 MiB cache: the pull converts beside the output."""
    ref = push(registry, "crash/fills", crafted(Member("zeros", data=bytes(4 << 20))))
    with mounted_tmpfs(tmp_path / "small-cache", "size=2m") as cache:
        with pytest.warns(regkit.CacheWarning) as said:
            result = regkit.pull(ref, tmp_path / "out/z.tar", insecure=True, cache_dir=cache, layer_format="tar")
        (message,) = [str(w.message) for w in said]
        assert str(cache) in message and "No space left on device" in message and "temporary folder" in message
        assert BlobStore(cache).partials() == []
    assert result.image.converted == (0,) and [p.name for p in (tmp_path / "out").iterdir()] == ["z.tar"]
    with tarfile.open(tmp_path / "out/z.tar") as tar:
        assert max(m.size for m in tar.getmembers()) > 4 << 20  # the layer as a plain tar


def test_an_analysis_removes_a_dead_pulls_partial_too(registry, tmp_path):
    cache = tmp_path / "cache"
    (cache / "blobs/sha256").mkdir(parents=True)
    ended = subprocess.Popen(["true"])
    ended.wait()
    namespace = owner().rsplit("-", 1)[1]
    dead = cache / "blobs/sha256" / f".incoming.{ended.pid}-1-{namespace}.abcd1234.partial"
    dead.write_bytes(bytes(4096))
    (cache / "listings/sha256").mkdir(parents=True)  # an analysis killed while keeping a listing
    dead_listing = cache / "listings/sha256" / f".incoming.{ended.pid}-1-{namespace}.abcd1234.partial"
    dead_listing.write_bytes(bytes(4096))
    env = {"REGKIT_CACHE_DIR": str(cache)}
    done = cli("layers", f"{registry.host}/library/whiteout", "--insecure-registry", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert not dead.exists() and not dead_listing.exists()
