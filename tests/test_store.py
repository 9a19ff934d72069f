"""The blob store shows a file only when complete and verified; conversions check diff_ids."""

import gzip
import os
import signal
import subprocess

import pytest

import regkit
from regkit import BlobStore, Digest, DigestMismatch, SizeMismatch
from regkit.lab import imagebuild as ib
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import Descriptor
from regkit.storage import interrupt
from regkit.storage.fileio import copy_range
from regkit.storage.layerformat import convert_layer, target_compression
from regkit.storage.output import owner


def test_verified_write_and_failed_write_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path)
    data = b"hello"
    store.write_bytes(Digest.of(data), data)
    assert store.has(Digest.of(data), 5)
    wrong = Digest.of(b"other")
    with pytest.raises(DigestMismatch):
        store.write_bytes(wrong, data)
    with pytest.raises(SizeMismatch), store.writer(Digest.of(data), 3) as (_handle, verifier):
        verifier.update(data)
    assert not store.has(wrong, 5)
    assert sorted(p.name for p in (tmp_path / "blobs" / "sha256").iterdir()) == [Digest.of(data).hex]


def test_interrupt_removes_partial_file(tmp_path):
    store = BlobStore(tmp_path)
    with pytest.raises(KeyboardInterrupt), store.writer(Digest.of(b"x"), 1) as (handle, _verifier):
        handle.write(b"x")
        raise KeyboardInterrupt
    assert list((tmp_path / "blobs" / "sha256").iterdir()) == []


def test_target_compression_rules():
    assert target_compression("auto", mt.ZSTD, docker_format=True) == mt.TAR
    assert target_compression("auto", mt.ZSTD, docker_format=False) is None
    assert target_compression("auto", mt.GZIP, docker_format=True) is None
    assert target_compression("gzip", mt.GZIP, docker_format=True) is None
    assert target_compression("tar", mt.GZIP, docker_format=True) == mt.TAR
    assert target_compression("keep", mt.ZSTD, docker_format=True) is None


@pytest.mark.parametrize("source,target", [("zstd", "tar"), ("zstd", "gzip"), ("gzip", "tar"), ("tar", "gzip")])
def test_conversion_keeps_the_diff_id(tmp_path, source, target):
    store = BlobStore(tmp_path)
    tar = ib.tar_layer([ib.file("a.txt", b"a" * 10000)])
    blob = ib.compress(tar, source)
    store.write_bytes(Digest.of(blob), blob)
    layer = Descriptor(mt.layer_media_type(source, oci=True), Digest.of(blob), len(blob))
    out = convert_layer(store, layer, Digest.of(tar), target, oci=True, index=0)
    data = store.path(out.digest).read_bytes()
    assert (gzip.decompress(data) if target == "gzip" else data) == tar
    assert out.media_type == mt.layer_media_type(target, oci=True) and out.size == len(data)


def test_conversion_refuses_a_wrong_diff_id_and_corrupt_data(tmp_path):
    store = BlobStore(tmp_path)
    tar = ib.tar_layer([ib.file("a.txt", b"a")])
    blob = ib.compress(tar, "zstd")
    store.write_bytes(Digest.of(blob), blob)
    layer = Descriptor(mt.OCI_LAYER_ZSTD, Digest.of(blob), len(blob))
    with pytest.raises(DigestMismatch, match="diff_ids"):
        convert_layer(store, layer, Digest.of(b"not the tar"), "tar", oci=True, index=0)
    junk = b"not gzip at all"
    store.write_bytes(Digest.of(junk), junk)
    with pytest.raises(DigestMismatch, match="not valid gzip"):
        convert_layer(
            store, Descriptor(mt.OCI_LAYER_GZIP, Digest.of(junk), len(junk)), Digest.of(tar), "tar", oci=True, index=1
        )
    leftovers = [p.name for p in (tmp_path / "blobs" / "sha256").iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def test_a_pending_signal_stops_conversion_hashing_and_copying_leaving_nothing(tmp_path):
    """Each long loop looks at the signal noted by the CLI's handler after every chunk (issue 23)."""
    layer = gzip.compress(bytes(8 << 20), mtime=0)
    store = BlobStore(tmp_path)
    descriptor = Descriptor(mt.layer_media_type(mt.GZIP, oci=True), regkit.Digest.of(layer), len(layer))
    store.write_bytes(descriptor.digest, layer)
    interrupt.request(signal.SIGTERM)
    try:
        with pytest.raises(regkit.Cancelled, match="SIGTERM"):
            convert_layer(store, descriptor, regkit.Digest.of(bytes(8 << 20)), mt.TAR, oci=True, index=0)
        with pytest.raises(regkit.Cancelled):
            store.verify(descriptor.digest, descriptor.size)
        with (
            open(store.path(descriptor.digest), "rb") as source,
            open(tmp_path / "copy", "wb") as target,
            pytest.raises(regkit.Cancelled),
        ):
            copy_range(source.fileno(), target.fileno(), len(layer))
    finally:
        interrupt.clear()
    assert store.partials() == [] and store.has(descriptor.digest, descriptor.size)


def test_temporary_files_are_stale_by_owner_or_by_age(tmp_path):
    store = BlobStore(tmp_path)
    folder = tmp_path / "blobs/sha256"
    folder.mkdir(parents=True)
    ended = subprocess.Popen(["true"])
    ended.wait()
    namespace = owner().rsplit("-", 1)[1]
    mine = folder / f".incoming.{owner()}.abcd1234.partial"
    dead = folder / f".incoming.{ended.pid}-1-{namespace}.abcd1234.partial"
    reused = folder / f".incoming.{os.getpid()}-1-{namespace}.abcd1234.partial"  # this PID, another start time
    # whose writer cannot be asked (no owner named, or a container's PID namespace): judged by age
    fresh, old = folder / ".incoming.fresh123.partial", folder / ".incoming.old12345.partial"
    elsewhere = folder / f".incoming.{ended.pid}-1-{int(namespace) + 1}.abcd1234.partial"
    for path in (mine, dead, reused, fresh, old, elsewhere):
        path.write_bytes(b"x" * 10)
    os.utime(old, (1, 1))
    assert {p.path.name: p.live for p in store.partials()} == {
        mine.name: True,
        dead.name: False,
        reused.name: False,
        fresh.name: True,
        old.name: False,
        elsewhere.name: True,
    }
    assert sorted(p.path.name for p in store.remove_stale()) == sorted([dead.name, reused.name, old.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted([mine.name, fresh.name, elsewhere.name])
