"""The blob cache: warm pulls make no blob request, output is written once and identical either way,
tampered cache files are hashed again or refused, and ``regkit cache`` lists, measures, prunes, verifies."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest

import regkit
from regkit.analysis.image import analyze
from regkit.steps.pull import fetch_all
from regkit.storage import output
from regkit.storage.cache import blobs, default_cache_dir, parse_age, parse_size
from regkit.storage.store import BlobStore

from .helpers import cli, flip_byte, push_unique


def blob_requests(har_path: Path) -> list[str]:
    """URLs of the blob GETs a HAR transcript holds."""
    entries = json.loads(har_path.read_text())["log"]["entries"]
    return [e["request"]["url"] for e in entries if "/blobs/" in e["request"]["url"]]


def test_the_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REGKIT_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("REGKIT_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "regkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "regkit"


def test_a_warm_pull_fetches_the_manifest_and_no_blob(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    env = {"REGKIT_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for name in ("cold", "warm"):
        argv = ["pull", ref, "--insecure-registry", "-o", f"{name}.tar", "--transcript", f"{name}.har"]
        runs.append(cli(*argv, cwd=tmp_path, env=env))
        assert runs[-1].returncode == 0, runs[-1].stderr
    assert len(blob_requests(tmp_path / "cold.har")) == 4  # config and three layers
    assert blob_requests(tmp_path / "warm.har") == []
    assert "from the cache: 4 of 4 blobs" in runs[1].stderr and "from the cache" not in runs[0].stderr
    assert (tmp_path / "cold.tar").read_bytes() == (tmp_path / "warm.tar").read_bytes()
    # Written once: the cache holds the cold output itself (one more name of the same file), no copies.
    (pack,) = (tmp_path / "cache/packs").iterdir()
    assert pack.stat().st_ino == (tmp_path / "cold.tar").stat().st_ino and pack.stat().st_nlink == 2
    assert not (tmp_path / "cache/blobs").exists() and len(list((tmp_path / "cache/packed/sha256").iterdir())) == 4
    # --no-cache downloads again and leaves the cache alone
    argv = ["pull", ref, "--insecure-registry", "-o", "none.tar", "--transcript", "none.har", "--no-cache"]
    assert cli(*argv, cwd=tmp_path, env={"REGKIT_CACHE_DIR": str(tmp_path / "other")}).returncode == 0
    assert len(blob_requests(tmp_path / "none.har")) == 4 and not (tmp_path / "other").exists()


@pytest.mark.parametrize("format", ["docker", "oci"])
def test_written_once_equals_stored_then_assembled(registry, tmp_path, format):
    """The direct path (pwrite at offsets) writes the very bytes the two-pass assemble writes."""
    ref = f"{registry.host}/library/layers:latest"
    # "keep": library/layers has a zstd layer, which auto would convert (the two-pass path)
    direct = regkit.pull(ref, tmp_path / "direct.tar", insecure=True, cache=False, format=format, layer_format="keep")
    assert all(b.path == tmp_path / "direct.tar" and not b.cached for b in direct.blobs)
    with regkit.Client(insecure=True) as client:
        store = BlobStore(tmp_path / "store")
        fetch_all(
            regkit.Repository(client, direct.reference), direct.manifest, store, 2, regkit.steps.progress.Progress()
        )
    regkit.assemble(direct.manifest, store, tmp_path / "assembled.tar", format=format, layer_format="keep")
    assert (tmp_path / "direct.tar").read_bytes() == (tmp_path / "assembled.tar").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_oci_layout_directory_hard_links_the_cache(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    cache = tmp_path / "cache"
    cold = regkit.pull(ref, tmp_path / "cold", insecure=True, format="oci", cache_dir=cache)
    warm = regkit.pull(ref, tmp_path / "warm", insecure=True, format="oci", cache_dir=cache)
    assert not any(b.cached for b in cold.blobs) and all(b.cached for b in warm.blobs)
    assert [e for e in warm.exchanges if e.step == "blob"] == []
    assert f"{len(warm.blobs)} of {len(warm.blobs)} blobs" in warm._repr_html_()
    assert f"0 of {len(cold.blobs)} blobs" in cold._repr_html_()
    for blob in warm.blobs:
        name = f"blobs/sha256/{blob.descriptor.digest.hex}"
        cached = (cache / name).stat()
        assert (tmp_path / "cold" / name).stat().st_ino == cached.st_ino == (tmp_path / "warm" / name).stat().st_ino
        assert regkit.Digest.of((tmp_path / "warm" / name).read_bytes()) == blob.descriptor.digest


def test_a_changed_cache_file_is_hashed_again_or_refused(registry, tmp_path):
    ref = f"{registry.host}/library/layers:latest"
    cache = tmp_path / "cache"
    # an OCI layout: its blobs enter the cache as files (hard links)
    first = regkit.pull(ref, tmp_path / "1", insecure=True, cache_dir=cache, format="oci")
    touched, grown = (cache / "blobs/sha256" / layer.digest.hex for layer in first.manifest.layers[:2])
    # Same bytes, new mtime: hashed once more, found good, used (no download) and recorded again.
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    # A byte appended: the size no longer matches, so it is fetched again.
    with open(grown, "ab") as handle:
        handle.write(b"x")
    store = BlobStore(cache)
    record = json.loads(store.record_path(first.manifest.layers[0].digest).read_text())
    assert record["mtime_ns"] != touched.stat().st_mtime_ns
    second = regkit.pull(ref, tmp_path / "2", insecure=True, cache_dir=cache, format="oci")
    fetched = [b.descriptor.digest for b in second.blobs if not b.cached]
    assert fetched == [first.manifest.layers[1].digest]
    record = json.loads(store.record_path(first.manifest.layers[0].digest).read_text())
    assert record["mtime_ns"] == touched.stat().st_mtime_ns
    for blob in second.blobs:
        written = tmp_path / "2" / f"blobs/sha256/{blob.descriptor.digest.hex}"
        assert regkit.Digest.of(written.read_bytes()) == blob.descriptor.digest


def test_an_output_changed_in_place_is_hashed_again_before_its_blobs_are_used(registry, tmp_path):
    """The cache shares a tar output's file: an edit to the output must not reach the next pull."""
    ref = f"{registry.host}/library/layers:latest"
    cache = tmp_path / "cache"
    # "keep": no conversion of its zstd layer (which stores blobs first, then assembles)
    first = regkit.pull(ref, tmp_path / "1.tar", insecure=True, cache_dir=cache, layer_format="keep")
    original = (tmp_path / "1.tar").read_bytes()
    kept, edited = first.manifest.layers[:2]
    store = BlobStore(cache)
    found = store.locate(edited.digest, edited.size)
    assert found is not None and found[0].samefile(tmp_path / "1.tar")
    flip_byte(tmp_path / "1.tar", found[1] + 100)
    second = regkit.pull(ref, tmp_path / "2.tar", insecure=True, cache_dir=cache, layer_format="keep")
    assert [b.descriptor.digest for b in second.blobs if not b.cached] == [edited.digest]
    assert (tmp_path / "2.tar").read_bytes() == original
    # the untouched blobs were hashed once and recorded again against the edited file
    record = json.loads(store.packs.record_path(kept.digest).read_text())
    assert record["file"]["mtime_ns"] == (tmp_path / "1.tar").stat().st_mtime_ns
    # the edited layer now comes from the second output's pack
    found = store.locate(edited.digest, edited.size)
    assert found is not None and found[0].samefile(tmp_path / "2.tar")


def test_a_re_pull_of_an_output_the_cache_holds_whole_writes_nothing(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    cache = tmp_path / "cache"

    def pull(name: str) -> regkit.PullResult:
        return regkit.pull(ref, tmp_path / name, insecure=True, cache_dir=cache)

    pull("a.tar")
    original = (tmp_path / "a.tar").read_bytes()
    (pack,) = (cache / "packs").iterdir()
    # the same output again: it already is this image, unchanged since it was verified — left as it is
    same = pull("a.tar")
    assert (tmp_path / "a.tar").stat().st_ino == pack.stat().st_ino and pack.stat().st_nlink == 2
    assert all(b.cached for b in same.blobs) and [e for e in same.exchanges if e.step == "blob"] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # a.tar is still the pack's other name: b.tar gets a copy of its own (two outputs never share a file)
    pull("b.tar")
    assert (tmp_path / "b.tar").stat().st_ino != pack.stat().st_ino and pack.stat().st_nlink == 2
    (tmp_path / "a.tar").unlink()
    linked = pull("c.tar")
    assert (tmp_path / "c.tar").stat().st_ino == pack.stat().st_ino and pack.stat().st_nlink == 2
    assert all(b.cached for b in linked.blobs) and [e for e in linked.exchanges if e.step == "blob"] == []
    assert (tmp_path / "c.tar").read_bytes() == original
    # an edit outside every blob (the end-of-archive zeros) still disqualifies the pack as a whole output
    flip_byte(tmp_path / "c.tar", len(original) - 1)
    pull("c.tar")  # the edited output is written anew, not left as it is
    assert (tmp_path / "c.tar").stat().st_ino != pack.stat().st_ino
    assert (tmp_path / "c.tar").read_bytes() == original
    pull("d.tar")
    assert (tmp_path / "d.tar").stat().st_ino != pack.stat().st_ino
    assert (tmp_path / "d.tar").read_bytes() == original


def test_a_pack_that_fails_verification_is_never_linked_as_an_output(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    cache = tmp_path / "cache"
    pulled = regkit.pull(ref, tmp_path / "a.tar", insecure=True, cache_dir=cache)
    original = (tmp_path / "a.tar").read_bytes()
    layer = pulled.manifest.layers[0]
    pack, offset = BlobStore(cache).locate(layer.digest, layer.size) or (Path(), 0)
    stat = pack.stat()
    flip_byte(pack, offset)
    os.utime(pack, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only a hash can tell
    assert cli("cache", "--cache-dir", str(cache), "verify", cwd=tmp_path).returncode == 1
    (tmp_path / "a.tar").unlink()
    again = regkit.pull(ref, tmp_path / "b.tar", insecure=True, cache_dir=cache)
    assert (tmp_path / "b.tar").read_bytes() == original
    assert [b.descriptor.digest for b in again.blobs if not b.cached] == [layer.digest]


def test_a_cache_on_another_file_system_gets_copies(registry, tmp_path):
    """No hard link across file systems: the tar's blobs are copied into the cache as files."""
    ref = f"{registry.host}/library/whiteout:latest"
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:  # tmpfs, while tmp_path is on the disk
        cache = Path(shm) / "cache"
        assert os.stat(shm).st_dev != tmp_path.stat().st_dev
        with pytest.warns(regkit.CacheWarning, match="cannot hard-link .* copies the blobs into the cache") as said:
            cold = regkit.pull(ref, tmp_path / "cold.tar", insecure=True, cache_dir=cache)
        assert len(said) == 1 and str(cache) in str(said[0].message)
        assert list(cache.glob("packs/*")) == []
        assert {p.name for p in (cache / "blobs/sha256").iterdir()} == {b.descriptor.digest.hex for b in cold.blobs}
        warm = regkit.pull(ref, tmp_path / "warm.tar", insecure=True, cache_dir=cache)
        assert all(b.cached for b in warm.blobs)
    assert (tmp_path / "cold.tar").read_bytes() == (tmp_path / "warm.tar").read_bytes()


def test_a_packed_blob_is_copied_out_for_a_reader_that_needs_a_file(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    pulled = regkit.pull(ref, tmp_path / "w.tar", insecure=True, cache_dir=tmp_path / "cache")
    layer = pulled.manifest.layers[0]
    store = BlobStore(tmp_path / "cache")
    assert not store.path(layer.digest).exists()
    assert store.has(layer.digest, layer.size)  # the file a layer analysis opens
    assert regkit.Digest.of(store.path(layer.digest).read_bytes()) == layer.digest
    assert not store.packs.record_path(layer.digest).exists() and store.locate(layer.digest, layer.size) == (
        store.path(layer.digest),
        0,
    )


@pytest.mark.parametrize(
    "record",
    [
        {"pack": "../../outside.tar", "offset": 0, "size": 16},
        {"pack": "/etc/passwd", "offset": 0, "size": 16},
        {"pack": "real.tar", "offset": -512, "size": 16},
        {"pack": "real.tar", "offset": 0, "size": 16, "file": "not a record"},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_pack_record_is_never_followed(tmp_path, record):
    store = BlobStore(tmp_path / "cache")
    data = b"verified content"
    digest = regkit.Digest.of(data)
    (tmp_path / "outside.tar").write_bytes(data)
    store.packs.pack_path("real.tar").parent.mkdir(parents=True)
    store.packs.pack_path("real.tar").write_bytes(data)
    if isinstance(record, dict):
        record.setdefault("file", {"size": 16})
    store.packs.record_path(digest).parent.mkdir(parents=True)
    store.packs.record_path(digest).write_text(json.dumps(record))
    assert store.locate(digest, len(data)) is None and not store.has(digest, len(data))
    assert list(blobs(store)) == []


def test_a_replaced_file_with_the_same_size_and_mtime_is_caught_by_its_inode(tmp_path):
    store = BlobStore(tmp_path)
    data = b"verified content"
    digest = regkit.Digest.of(data)
    path = store.write_bytes(digest, data)
    stat = path.stat()
    forged = tmp_path / "forged"
    forged.write_bytes(b"forged  content!")  # same length
    os.utime(forged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(forged, path)
    fresh = BlobStore(tmp_path)  # a later process: nothing remembered but the record
    assert not fresh.has(digest, len(data))
    assert not path.exists() and not fresh.record_path(digest).exists()


def test_concurrent_pulls_into_one_cache(registry, tmp_path):
    ref = f"{registry.host}/library/layers:latest"
    cache = tmp_path / "cache"
    results: list[regkit.PullResult] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            results.append(regkit.pull(ref, tmp_path / f"{n}.tar", insecure=True, cache_dir=cache))
        except BaseException as exc:  # collected: an error in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(results) == 3
    outputs = {(tmp_path / f"{n}.tar").read_bytes() for n in range(3)}
    assert len(outputs) == 1
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]
    store = BlobStore(cache)
    assert all(store.has(b.descriptor.digest, b.size) for b in results[0].blobs)
    assert all(store.verify(b.descriptor.digest, b.size) for b in results[0].blobs)


def test_a_failed_download_puts_nothing_in_the_cache(open_lab, tmp_path):
    endpoints = regkit.Endpoints.create(registry=open_lab.fault_url("flip-blob"), insecure=True)
    client = regkit.Client(endpoints=endpoints, insecure=True, docker_config=False)
    with pytest.raises(regkit.DigestMismatch):
        regkit.pull("library/whiteout", tmp_path / "out" / "f.tar", client=client, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "out").iterdir()) == []
    store = BlobStore(tmp_path / "cache")
    for path in (tmp_path / "cache").glob("blobs/sha256/*"):
        assert not path.name.startswith(".")
        assert store.verify(regkit.Digest.parse(f"sha256:{path.name}"), path.stat().st_size)


def test_cache_ls_du_prune_verify(registry, tmp_path):
    cache = tmp_path / "cache"

    def pull(name: str) -> regkit.PullResult:
        # "keep": no conversion, whose re-compressed layers would enter the cache too
        return regkit.pull(
            f"{registry.host}/{name}", tmp_path / "o.tar", insecure=True, cache_dir=cache, layer_format="keep"
        )

    busybox, layers = pull("library/busybox:docker"), pull("library/layers:latest")
    every = {b.descriptor.digest: b.size for b in (*busybox.blobs, *layers.blobs)}
    opt = ["cache", "--cache-dir", str(cache)]
    listed = cli(*opt, "ls", cwd=tmp_path)
    assert listed.returncode == 0 and {line.split()[0] for line in listed.stdout.splitlines()} == {
        str(d) for d in every
    }
    du = cli(*opt, "du", cwd=tmp_path)
    packs = {p.name: p.stat().st_size for p in (cache / "packs").iterdir()}  # one per pull: each output tar
    assert len(packs) == 2
    assert f"{len(every)} blobs ({len(every)} packed in output tars), {sum(packs.values())} bytes" in du.stdout
    # busybox's blobs were used longest ago: a limit that holds only the newer pull's evicts them first
    old = BlobStore(cache)
    for blob in busybox.blobs:
        os.utime(old.packs.record_path(blob.descriptor.digest), (1, 1))
    newer = old.locate(layers.manifest.config.digest, layers.manifest.config.size)
    assert newer is not None
    pruned = cli(*opt, "prune", "--max-size", str(packs[newer[0].name]), cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert {p.name for p in (cache / "packed/sha256").iterdir()} == {b.descriptor.digest.hex for b in layers.blobs}
    assert [p.name for p in (cache / "packs").iterdir()] == [newer[0].name]  # busybox's pack went with its blobs
    corrupt = layers.manifest.layers[0]
    pack, offset = old.locate(corrupt.digest, corrupt.size) or (Path(), 0)
    stat = pack.stat()
    flip_byte(pack, offset)
    os.utime(pack, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size, mtime and inode unchanged: only a hash sees it
    verified = cli(*opt, "verify", cwd=tmp_path)
    assert verified.returncode == 1 and f"removed {corrupt.digest}" in verified.stderr
    assert not old.packs.record_path(corrupt.digest).exists()
    assert cli(*opt, "prune", "--older-than", "0s", cwd=tmp_path).returncode == 0
    assert list((cache / "packed/sha256").iterdir()) == [] and list((cache / "packs").iterdir()) == []
    # the user's output never belonged to the cache: pruning its pack leaves it whole
    assert (tmp_path / "o.tar").stat().st_nlink == 1 and tar_blob_names(tmp_path / "o.tar")
    refused = cli(*opt, "prune", cwd=tmp_path)
    assert refused.returncode == 2 and "--max-size" in refused.stderr


def test_sizes_and_ages_parse():
    assert parse_size("1024") == 1024 and parse_size("2K") == 2048 and parse_size("1.5GiB") == 3 << 29
    assert parse_age("90") == 90 and parse_age("2h") == 7200 and parse_age("1d") == 86400
    with pytest.raises(regkit.InvalidOption):
        parse_size("lots")


def test_an_unusable_default_cache_never_fails_a_pull(registry, tmp_path, monkeypatch):
    """Said once as a CacheWarning; an explicit cache_dir like it is refused (tests/test_cache_crash.py)."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache should be")
    monkeypatch.setenv("REGKIT_CACHE_DIR", str(blocked))
    ref = f"{registry.host}/library/whiteout:latest"
    with pytest.warns(regkit.CacheWarning, match=f"{blocked} cannot be used: it is not a directory"):
        result = regkit.pull(ref, tmp_path / "w.tar", insecure=True)
    assert not result.cached_blobs and all(b.path == tmp_path / "w.tar" for b in result.blobs)
    assert tar_blob_names(tmp_path / "w.tar") >= {b.descriptor.digest.hex for b in result.blobs}


def tar_blob_names(path: Path) -> set[str]:
    """The hex names of the ``blobs/sha256/`` members of a tar."""
    with tarfile.open(path) as tar:
        return {m.name.rsplit("/", 1)[1] for m in tar.getmembers() if m.name.startswith("blobs/sha256/") and m.isfile()}


def test_analysis_reads_what_a_pull_cached(registry, tmp_path):
    image = push_unique(registry, "cache/analysed", b"analysed from the cache\n" * 1000)
    ref = f"{registry.host}/cache/analysed:v1"
    with regkit.Client(insecure=True) as client:
        before = analyze(ref, client=client)
        assert [e.step for e in client.transcript].count("blob") == 2  # config and the layer
    regkit.pull(ref, tmp_path / "a.tar", insecure=True)  # into the session's cache ($REGKIT_CACHE_DIR)
    with regkit.Client(insecure=True) as client:
        after = analyze(ref, client=client)
        assert [e.step for e in client.transcript].count("blob") == 0
    assert after.to_dict()["layers"] == before.to_dict()["layers"] and after.manifest.digest == image.digest
    # read as ranges of the pull's pack: no copy of the layer was made for the analysis
    store = BlobStore(default_cache_dir())
    layer = after.manifest.layers[0]
    assert not store.path(layer.digest).exists() and store.packs.record_path(layer.digest).exists()


def test_a_partial_output_renamed_away_during_the_sweep_is_passed_over(tmp_path, monkeypatch):
    """Three pulls in one directory: one's partial output may be renamed into place between the scan and the stat."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    gone = tmp_path / f"{output.WORK_PREFIX}{ended.pid}-abc123"
    gone.write_bytes(b"x")
    scanned = list(os.scandir(tmp_path))
    gone.unlink()  # what a concurrent pull's rename does to it
    monkeypatch.setattr(output.os, "scandir", lambda path: iter(scanned))
    assert output.remove_stale_work_dirs(tmp_path) == []  # no FileNotFoundError: nothing to remove
