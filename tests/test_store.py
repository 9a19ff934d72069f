"""The blob store shows a file only when complete and verified; conversions check diff_ids."""

import gzip

import pytest

from regkit import BlobStore, Digest, DigestMismatch, SizeMismatch
from regkit.lab import imagebuild as ib
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import Descriptor
from regkit.steps.layerformat import convert_layer, target_compression


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
