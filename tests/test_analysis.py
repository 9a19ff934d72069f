"""Layer analysis against a real registry, checked against an independent reading of the same blobs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tracemalloc
from html.parser import HTMLParser
from pathlib import Path

import pytest
import zstandard

import regkit
from regkit.analysis import Waste, ahead, analyze, compare, compare_images, layer_sizes, listings, manifest_sizes
from regkit.analysis.tarscan import tidy
from regkit.display.analysis_charts import changes_chart, largest_chart
from regkit.lab import imagebuild as ib
from regkit.lab.images import WHITEOUT_FILE_SIZE
from regkit.lab.upload import push_image
from regkit.oci import mediatypes as mt
from regkit.oci.digest import Digest
from regkit.storage.layerformat import GZIP_READERS

from .helpers import PULLABLE, Member, crafted, push

SAMPLES = [*PULLABLE, ("private/busybox", "latest")]


def decompress(blob: bytes, media_type: str) -> bytes:
    """The whole layer tar, decompressed in memory (the independent reading)."""
    compression = mt.layer_compression(media_type)
    if compression == mt.GZIP:
        return gzip.decompress(blob)
    if compression == mt.ZSTD:
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    return blob


def layer_tars(ref: str, tmp_path: Path) -> list[bytes]:
    """Every layer of ``ref`` downloaded whole and decompressed."""
    client = regkit.Client(insecure=True)
    manifest = regkit.get_manifest(ref, client=client)
    blobs = [regkit.fetch_blob(ref, layer, tmp_path / "blobs", client=client) for layer in manifest.layers]
    return [decompress(b.path.read_bytes(), b.descriptor.media_type) for b in blobs]


@pytest.mark.parametrize("repository,tag", SAMPLES)
def test_sizes_and_listings_agree_with_tarfile_on_the_whole_layer(registry, tmp_path, repository, tag):
    ref = f"{registry.host}/{repository}:{tag}"
    analysis = analyze(ref, insecure=True)
    tars = layer_tars(ref, tmp_path)
    assert len(analysis.layers) == len(tars)
    for layer, tar in zip(analysis.layers, tars, strict=True):
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            members = archive.getmembers()
            digests = {m.name: hashlib.sha256(archive.extractfile(m).read()).hexdigest() for m in members if m.isreg()}
        assert layer.uncompressed_size == len(tar)
        assert layer.diff_id == regkit.Digest.of(tar)
        assert layer.file_count == len(members)
        assert layer.content_size == sum(m.size for m in members if m.isreg())
        assert [e.path for e in layer.entries] == [tidy(m.name) for m in members]
        assert {e.path: e.sha256 for e in layer.entries if e.type == "file"} == {tidy(k): v for k, v in digests.items()}
        assert layer.compressed_size == layer.descriptor.size
    frame = analysis.all_files()
    assert len(frame) == sum(layer.file_count for layer in analysis.layers)
    assert list(frame.columns) == ["path", "type", "size", "mode", "uid", "gid", "mtime", "link", "sha256", "layer"]


def test_whiteout_image_wastes_exactly_the_deleted_file(registry):
    analysis = analyze(f"{registry.host}/library/whiteout:latest", insecure=True)
    assert analysis.waste == (Waste("data/big.bin", WHITEOUT_FILE_SIZE, 1, 2, "deleted"),)
    assert analysis.wasted_bytes == 5242880
    assert analysis.final_bytes == analysis.written_bytes - 5242880
    assert analysis.efficiency == pytest.approx(analysis.final_bytes / analysis.written_bytes)
    assert analysis.efficiency < 0.5
    deleted = analysis.changes[2]
    assert (deleted.deleted, deleted.deleted_bytes, deleted.added_bytes) == (1, 5242880, 0)
    assert analysis.changes[1].added_bytes == 5242880
    files = analysis.files()
    assert "data" in set(files.path) and "data/big.bin" not in set(files.path)
    assert not files.path.str.contains(".wh.").any()
    assert analysis.waste_frame().to_dict("records") == [analysis.waste[0]._asdict()]


def test_history_accounts_for_empty_layer_steps(registry):
    analysis = analyze(f"{registry.host}/library/layers:latest", insecure=True)
    empty = [step for step in analysis.history if step.empty_layer]
    assert [step.created_by for step in empty] == ["ENV STEP=1", "ENV STEP=4"]
    assert all(step.layer is None for step in empty)
    assert [layer.created_by for layer in analysis.layers] == [f"ADD layer{i} /" for i in range(6)]
    assert [layer.compression for layer in analysis.layers] == ["zstd", "gzip", "zstd", "tar", "gzip", "gzip"]
    assert analysis.layers[4].file_count == 0 and analysis.waste == () and analysis.efficiency == 1.0
    assert len(analysis.history_frame()) == 8


def test_overwrites_and_duplicates_across_layers(registry):
    same = b"x" * 3000
    ref = push(
        registry,
        "analysis/overwrite",
        crafted(Member("etc/app.conf", data=b"a" * 1000), Member("opt/copy1", data=same)),
        crafted(Member("etc/app.conf", data=b"b" * 400), Member("srv/copy2", data=same)),
    )
    analysis = analyze(ref, insecure=True)
    assert analysis.waste == (Waste("etc/app.conf", 1000, 0, 1, "overwritten"),)
    change = analysis.changes[1]
    assert (change.modified, change.modified_bytes, change.deleted) == (1, 400, 0)
    assert analysis.efficiency == pytest.approx(1 - 1000 / (1000 + 400 + 2 * 3000))
    sha = hashlib.sha256(same).hexdigest()
    assert analysis.duplicates() == [(sha, 3000, [(0, "opt/copy1"), (1, "srv/copy2")])]
    directories = analysis.directories()
    assert directories.iloc[0].tolist() == ["/", 400 + 2 * 3000, 3]


def test_a_corrupt_layer_is_a_verification_error(registry):
    ref = push(registry, "analysis/notatar", b"this is not a tar archive" * 40, compression="tar")
    with pytest.raises(regkit.VerificationError, match="not a readable tar"):
        analyze(ref, insecure=True)


def test_isize_estimate_equals_the_real_size_and_uses_range(registry, tmp_path):
    for repository, tag in [("library/whiteout", "latest"), ("library/layers", "latest")]:
        ref = f"{registry.host}/{repository}:{tag}"
        sizes = layer_sizes(ref, insecure=True)
        real = [len(tar) for tar in layer_tars(ref, tmp_path / repository)]
        assert [layer.uncompressed for layer in sizes.layers] == real
        ranged = [e for e in sizes.exchanges if e.status == 206]
        gzip_layers = [layer for layer in sizes.layers if layer.descriptor.media_type.endswith("gzip")]
        assert gzip_layers and all(layer.source.startswith("gzip ISIZE") for layer in gzip_layers)
        assert all(not layer.exact for layer in gzip_layers)
        assert len(ranged) == sum(1 for layer in sizes.layers if not layer.exact)
        assert all(dict(e.request_headers)["Range"].startswith("bytes=") for e in ranged)
        assert all(e.bytes_received <= 18 for e in ranged)
    assert sizes.frame()["created_by"].tolist()[0] == "ADD layer0 /" and "ISIZE" in sizes._repr_html_()


def test_platform_totals_from_manifests_alone(registry):
    report = manifest_sizes(
        [f"{registry.host}/library/busybox:multiarch", f"{registry.host}/library/busybox:latest"], insecure=True
    )
    multi = [image for image in report.images if image.reference.tag == "multiarch"]
    assert len(multi) == 4 and all(image.platform for image in multi)  # the attestation is left out
    assert all(image.compressed_size == image.manifest.total_size for image in report.images)
    assert [e.step for e in report.exchanges].count("blob") == 0
    busybox = next(image for image in multi if image.manifest.digest == report.images[-1].manifest.digest)
    assert report.shared_bytes == busybox.compressed_size
    assert report.distinct_bytes == report.total_bytes - busybox.compressed_size
    shared = [row for row in report.blob_rows() if row["users"] > 1]
    assert {row["digest"] for row in shared} == {str(b.digest) for b in busybox.blobs}
    assert report.frame()["unique_size"].iloc[-1] == 0
    assert "linux/s390x" in report._repr_html_()


def test_comparison_shares_layers_and_lists_differing_files(registry):
    base = crafted(Member("bin/tool", data=b"v1"), Member("etc/keep", data=b"same"))
    left = push(registry, "analysis/left", base, crafted(Member("etc/conf", data=b"one")))
    right = push(registry, "analysis/right", base, crafted(Member("etc/conf", data=b"two!"), Member("new", data=b"n")))
    comparison = compare_images(left, right, insecure=True)
    assert len(comparison.shared_layers) == 1 and comparison.shared_bytes == comparison.left.layers[0].size
    changes = {(d.path, d.change, d.fields) for d in comparison.differences}
    assert changes == {("etc/conf", "changed", ("size", "sha256")), ("new", "added", ())}
    layers_only = compare_images(left, right, insecure=True, files=False)
    assert layers_only.differences is None and layers_only.shared_layers == comparison.shared_layers
    a, b = analyze(left, insecure=True), analyze(right, insecure=True)
    assert compare(a, b, ignore=()).differences == comparison.differences  # crafted mtimes are all 0
    assert set(comparison.frame().path) == {"etc/conf", "new"} and "etc/conf" in comparison._repr_html_()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.add(tag)


def test_html_reprs_escape_hostile_names_and_charts_are_figures(registry):
    ref = push(registry, "analysis/html", crafted(Member("<img src=x onerror=alert(1)>$x$", data=b"1")))
    analysis = analyze(ref, insecure=True)
    for html in (analysis._repr_html_(), analysis.layers[0]._repr_html_()):
        parser = _Tags()
        parser.feed(html)
        assert "img" not in parser.tags and "&lt;img src=x" in html
    from matplotlib.figure import Figure

    for figure in (changes_chart(analysis), largest_chart(analysis), largest_chart(analysis, directories=True)):
        assert isinstance(figure, Figure)
        figure.savefig(io.BytesIO(), format="png")  # renders: the $…$ in the name is not read as math


def test_a_layer_with_too_many_entries_is_refused(registry):
    ref = push(registry, "analysis/many", ib.tar_layer([ib.file(f"f{i}", b"") for i in range(5)]))
    with pytest.raises(regkit.BudgetExceeded, match="layer_entries budget: more than 4 entries"):
        analyze(ref, insecure=True, budgets=regkit.Budgets(layer_entries=4))


def test_a_huge_pax_header_is_refused_unread(registry):
    info = tarfile.TarInfo("f")
    info.pax_headers = {"comment": "x" * (8 << 20)}  # an 8 MiB header that gzip packs into about 8 KB
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info)
    ref = push(registry, "analysis/paxbomb", buffer.getvalue())
    del info, buffer
    refused = r"layer 0 \(sha256:[0-9a-f]{64}\) is not a readable gzip tar: pax extended header of 8388625 bytes"
    tracemalloc.start()
    try:
        with pytest.raises(regkit.VerificationError, match=refused + " at offset 0: refused, more than 1048576"):
            analyze(ref, insecure=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak  # the header was never read into memory


def test_headers_over_the_layer_budget_refuse_the_layer(registry, monkeypatch):
    ref = push(registry, "analysis/headerflood", crafted(*(Member(f"{i}/".ljust(500_000, "p")) for i in range(3))))
    monkeypatch.setattr("regkit.analysis.tarscan.MAX_LAYER_METADATA", 1 << 20)  # two of those headers fit, not three
    refused = r"layer 0 \(sha256:[0-9a-f]{64}\) is not a readable gzip tar: pax extended header of 500013 bytes"
    with pytest.raises(regkit.VerificationError, match=refused + " at offset 1002496: refused, the layer's headers"):
        analyze(ref, insecure=True)


def test_a_chain_of_extended_headers_refuses_the_layer(registry):
    long_name = tarfile.TarInfo("././@LongLink")
    long_name.type, long_name.size = tarfile.GNUTYPE_LONGNAME, 2
    chain = (long_name.tobuf(tarfile.GNU_FORMAT) + b"n".ljust(512, b"\0")) * 2000  # tarfile recursed once a header
    ref = push(registry, "analysis/headerchain", chain + crafted(Member("f", data=b"x")))
    refused = "not a readable gzip tar: a chain of more than 32 extended headers at offset 0: refused"
    with pytest.raises(regkit.VerificationError, match=refused):
        analyze(ref, insecure=True)


def push_blob(registry, name: str, blob: bytes, compression: str, tar: bytes) -> str:
    """Push an image whose one layer is ``blob`` as served (damaged on purpose), its diff_id that of ``tar``."""
    image = ib.build_image([(tar, compression)])
    manifest = json.loads(image.manifest)
    del image.blobs[Digest.parse(manifest["layers"][0]["digest"])]
    image.blobs[Digest.of(blob)] = blob
    manifest["layers"][0].update(digest=str(Digest.of(blob)), size=len(blob))
    image.manifest = json.dumps(manifest).encode()
    ref = f"{registry.host}/{name}:v1"
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(ref), image)
    return ref


WHERE = r"(entry 'file-[0-9]+'|before its first entry)"  # where the reader was, or had decompressed ahead to
DAMAGED = crafted(*(Member(f"file-{i}", data=hashlib.sha256(b"%d" % i).hexdigest().encode() * 40) for i in range(400)))


@pytest.mark.parametrize("reader", GZIP_READERS)
def test_a_corrupt_or_truncated_gzip_layer_names_the_layer_and_the_entry(registry, monkeypatch, reader):
    monkeypatch.setenv("REGKIT_GZIP", reader)
    blob = bytearray(ib.compress(DAMAGED, mt.GZIP))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)  # the middle of the deflate stream
    ref = push_blob(registry, f"analysis/corrupt-{reader}", bytes(blob), mt.GZIP, DAMAGED)
    entry = r"layer 0 \(sha256:[0-9a-f]{64}\) is not a readable gzip tar: .*" + WHERE
    with pytest.raises(regkit.VerificationError, match=entry):
        analyze(ref, insecure=True)
    truncated = ib.compress(DAMAGED, mt.GZIP)[:-5000]
    ref = push_blob(registry, f"analysis/truncated-{reader}", truncated, mt.GZIP, DAMAGED)
    with pytest.raises(regkit.VerificationError, match=entry.replace(".*", "Compressed file ended.*")):
        analyze(ref, insecure=True)


def test_a_truncated_zstd_layer_names_the_layer_and_the_entry(registry):
    truncated = ib.compress(DAMAGED, mt.ZSTD)[:-3000]
    ref = push_blob(registry, "analysis/truncated-zstd", truncated, mt.ZSTD, DAMAGED)
    with pytest.raises(regkit.VerificationError, match=r"not a readable zstd tar: .*" + WHERE):
        analyze(ref, insecure=True)


def test_a_bad_header_checksum_in_a_layer_names_the_entry_before_it(registry):
    tar = bytearray(DAMAGED)
    tar[512 * 6] ^= 0x01  # the second member's header (the first has 5 blocks of data)
    ref = push(registry, "analysis/badchecksum", bytes(tar))
    refused = r"bad tar header checksum at offset 3072 .*after entry 'file-0'"
    with pytest.raises(regkit.VerificationError, match=refused):
        analyze(ref, insecure=True)


def blob_reads(analysis) -> int:
    return [e.step for e in analysis.exchanges].count("blob")


def test_an_analysis_lets_its_columns_go_back_to_the_cache_and_reads_them_again_on_demand(registry, tmp_path):
    """After the merge, a layer's columns are the kept listing's (memory: 600,000 entries would stay held)."""
    layer = crafted(*(Member(f"etc/{i}", data=b"%d" % i * 30) for i in range(40)))
    analysis = analyze(push(registry, "analysis/ondemand", layer), insecure=True, cache_dir=tmp_path / "cache")
    assert analysis.layers[0].file_count == analysis.layers[0].regular_files == 40  # known without loading
    assert [entry.path for entry in analysis.layers[0].entries][:2] == ["etc/0", "etc/1"]  # loaded when read
    again = analyze(str(analysis.reference), insecure=True, cache_dir=tmp_path / "cache")  # read back, not merged
    listings.listing_path(again.layers[0].descriptor.digest, tmp_path / "cache").unlink()
    with pytest.raises(regkit.VerificationError, match="gone or damaged since this analysis began"):
        again.files()


def test_a_layer_listed_once_is_read_back_from_the_cache_by_any_image_sharing_it(registry):
    base = crafted(*(Member(f"lib/{i}.so", data=b"%d" % i * 50) for i in range(30)))
    first = analyze(push(registry, "analysis/kept1", base, crafted(Member("app", data=b"one"))), insecure=True)
    assert blob_reads(first) == 3  # the config and both layers
    path = listings.listing_path(first.layers[0].descriptor.digest)
    assert path.read_bytes().startswith(listings.FORMAT + b" " + str(first.layers[0].diff_id).encode())
    other = analyze(push(registry, "analysis/kept2", base, crafted(Member("app", data=b"two!"))), insecure=True)
    assert blob_reads(other) == 2  # the config and the layer it does not share
    assert other.layers[0].entries == first.layers[0].entries and len(other.layers[0].entries) == 30
    assert other.layers[0].uncompressed_size == first.layers[0].uncompressed_size
    again = analyze(str(first.reference), insecure=True)
    assert blob_reads(again) == 1 and again.to_dict() == first.to_dict()
    with pytest.raises(regkit.BudgetExceeded, match="layer_entries budget: more than 29 entries"):
        analyze(str(first.reference), insecure=True, budgets=regkit.Budgets(layer_entries=29))  # still charged
    path.write_bytes(path.read_bytes()[:-10])  # a torn listing is not used: the layer is read again
    assert blob_reads(analyze(str(first.reference), insecure=True)) == 2
    assert listings.load(first.layers[0].descriptor, first.layers[0].diff_id).entries == first.layers[0].entries


LIST_ONE = ahead.list_one


def recording_list_one(*args: object) -> bool:
    """``ahead.list_one`` leaving the worker's pid in ``$WORKERS_SEEN/<layer index>`` (module level: it is pickled)."""
    (Path(os.environ["WORKERS_SEEN"]) / str(args[2])).write_text(str(os.getpid()))
    return LIST_ONE(*args)  # type: ignore[arg-type]


def test_local_layers_are_listed_in_worker_processes_and_merged_in_layer_order(registry, tmp_path, monkeypatch):
    layers = [crafted(*(Member(f"{k}/f{i}", data=b"%d.%d" % (k, i)) for i in range(200))) for k in range(4)]
    layers.append(crafted(Member("0/f1", data=b"top"), Member("1/.wh.f2")))  # over what lower layers hold
    ref = push(registry, "analysis/ahead", *layers)
    regkit.pull(ref, tmp_path / "image.tar", insecure=True)  # the blobs are now local
    workers = tmp_path / "workers"
    workers.mkdir()
    monkeypatch.setenv("WORKERS_SEEN", str(workers))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(ahead, "list_one", recording_list_one)
    analysis = analyze(ref, insecure=True)
    pids = {int(path.read_text()) for path in workers.iterdir()}
    assert sorted(int(path.name) for path in workers.iterdir()) == [0, 1, 2, 3, 4]
    assert pids and os.getpid() not in pids  # listed in other processes
    assert blob_reads(analysis) == 0  # the config from the blob cache, every layer's listing read back
    assert [layer.index for layer in analysis.layers] == [0, 1, 2, 3, 4]
    for layer, tar in zip(analysis.layers, layers, strict=True):
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            assert [e.path for e in layer.entries] == [tidy(m.name) for m in archive]
    assert analysis.filesystem.lookup(["0", "f1"]).entry.size == 3 and analysis.filesystem.lookup(["1", "f2"]) is None
    assert analysis.waste == (Waste("0/f1", 3, 0, 4, "overwritten"), Waste("1/f2", 3, 1, 4, "deleted"))
