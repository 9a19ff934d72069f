"""The tar reader against ``tarfile`` on every layer the suite knows, and on damaged or hostile tars (no server)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
import time

import pytest
import zstandard

from regkit.analysis.entries import FileEntry
from regkit.analysis.layers import scan
from regkit.analysis.tarscan import BadTar, TarReader, tidy
from regkit.errors import BudgetExceeded
from regkit.lab import imagebuild as ib
from regkit.oci import mediatypes as mt
from regkit.oci.budgets import Meter
from regkit.oci.digest import Digest

from .helpers import Member, crafted, old_gnu_sparse, pax_sparse

KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def by_tarfile(tar: bytes) -> list[FileEntry]:
    """The listing the way regkit made it before its own reader: Python's tarfile in stream mode."""
    listed = []
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r|") as archive:
        for info in archive:
            kind = KINDS.get(info.type, "other")
            digest = ""
            if info.isreg():
                digest = hashlib.sha256(archive.extractfile(info).read()).hexdigest()
            size = info.size if kind == "file" else 0
            fields = (info.mode, info.uid, info.gid, info.mtime, info.linkname, digest)
            listed.append(FileEntry(tidy(info.name), kind, size, *fields))
    return listed


def by_reader(tar: bytes) -> list[FileEntry]:
    return list(scan(TarReader(io.BytesIO(tar).read)))


def test_reads_a_plain_layer():
    tar = ib.tar_layer([ib.directory("etc"), ib.file("etc/a", b"x" * 3000), ib.symlink("etc/b", "a")])
    assert by_reader(tar) == by_tarfile(tar)


def layer_tars(image: ib.BuiltImage) -> list[bytes]:
    """The uncompressed layer tars of an image and of every manifest an index holds."""
    tars = []
    for child in [image, *image.children]:
        for layer in json.loads(child.manifest).get("layers", ()):
            blob = child.blobs[Digest.parse(layer["digest"])]
            compression = mt.layer_compression(layer["mediaType"])
            if compression == mt.GZIP:
                blob = gzip.decompress(blob)
            elif compression == mt.ZSTD:
                blob = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
            tars.append(blob)
    return tars


def test_same_listing_as_tarfile_on_every_sample_image(samples):
    tars = [tar for sample in samples for tar in layer_tars(sample.image)]
    assert len(tars) >= 10 and sum(len(by_tarfile(tar)) for tar in tars) > 20
    for tar in tars:
        assert by_reader(tar) == by_tarfile(tar)


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def resum(header: bytearray, at: int = 0) -> None:
    """Write a header's checksum again after editing it."""
    header[at + 148 : at + 156] = b" " * 8
    header[at + 148 : at + 156] = b"%06o\0 " % sum(header[at : at + 512])


def written(format: int, *members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def corpus() -> list[bytes]:
    """The kinds of tar the analysis tests build, in every format tarfile writes."""
    long = "d/" * 80 + "long-name"
    tars = [
        crafted(Member("/etc/passwd", data=b"root"), Member("../up", data=b"x"), Member("a/../../b", data=b"y")),
        crafted(Member("ok.txt", data=b"ok"), Member("link", tarfile.LNKTYPE, link="/etc/shadow")),
        crafted(Member("<img src=x onerror=alert(1)>$x$", data=b"1"), Member("dir/", tarfile.DIRTYPE)),
        crafted(*(Member(f"{i}/".ljust(3000, "p"), data=b"z") for i in range(3))),
        crafted(Member("nul\0name", data=b"n"), Member("./dot/./x", data=b"d"), Member("./", tarfile.DIRTYPE)),
        old_gnu_sparse([(10 * i, 3) for i in range(1, 4 + 21 * 3)], 1000),
        old_gnu_sparse([(0, 5), (100, 7)], 4096),
        pax_sparse(b"3\n9000\n1\n9010\n1\n9020\n1\n", b"abc", 12000),
        pax_sparse(b"2\n0\n3\n500\n2\n", b"abcde", 900),
        tarfile.TarInfo.create_pax_global_header({"comment": "v" * 4000}) + crafted(Member("after-global", data=b"g")),
        ib.tar_layer([ib.whiteout("a/b"), ib.file("etc/.wh..wh..opq", b""), ib.file("x", b"new!")]),
    ]
    for format in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        members = [
            (_info("usr/", tarfile.DIRTYPE, mode=0o755), b""),
            (_info("usr/bin/tool", size=5, mode=0o4755, uid=1000, gid=1000, mtime=1700000000), b"tool!"),
            (_info("usr/" + "x" * 90 + "/" + "y" * 90, size=1, uid=7), b"y"),  # a ustar prefix
            (_info("usr/bin/ln", tarfile.SYMTYPE, linkname="tool"), b""),
            (_info("usr/bin/hard", tarfile.LNKTYPE, linkname="usr/bin/tool"), b""),
            (_info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
            (_info("dev/sda", tarfile.BLKTYPE, devmajor=8), b""),
            (_info("run/fifo", tarfile.FIFOTYPE), b""),
            (_info("big.bin", size=(3 << 20) + 17), random.Random(1).randbytes((3 << 20) + 17)),
            (_info("empty"), b""),
            (_info("contiguous", tarfile.CONTTYPE, size=3), b"abc"),
        ]
        if format != tarfile.USTAR_FORMAT:
            members += [
                (_info(long, size=4), b"long"),
                (_info("ln2", tarfile.SYMTYPE, linkname="t" * 300), b""),
                (_info("módulo-ünïcode.js", size=2, uid=1 << 22, gid=3 << 21, mtime=1 << 40), b"js"),
            ]
        if format == tarfile.PAX_FORMAT:
            members.append((_info("pax", size=1, pax_headers={"mtime": "1700000000.25", "SCHILY.xattr.a": "b"}), b"p"))
        tars.append(written(format, *members))
    v7 = bytearray(written(tarfile.GNU_FORMAT, (_info("olddir/"), b"")))  # a V7 directory: AREGTYPE with a slash
    v7[156] = 0
    resum(v7)
    tars.append(bytes(v7))
    odd = bytearray(written(tarfile.GNU_FORMAT, (_info("odd", size=3), b"abc")))  # an unknown type: data skipped
    odd[156:157] = b"Z"
    resum(odd)
    tars.append(bytes(odd))
    latin = bytearray(written(tarfile.GNU_FORMAT, (_info("caf_", size=1), b"c")))  # a name that is not UTF-8
    latin[3] = 0xE9
    resum(latin)
    tars.append(bytes(latin))
    return tars


def test_same_listing_as_tarfile_on_the_test_corpus():
    tars = corpus()
    for tar in tars:
        assert by_reader(tar) == by_tarfile(tar)
    kinds = {entry.type for tar in tars for entry in by_reader(tar)}
    assert kinds == {"file", "dir", "symlink", "hardlink", "char", "block", "fifo", "other"}


def three() -> bytes:
    return crafted(Member("first", data=b"1" * 700), Member("second", data=b"2"), Member("third", data=b"3"))


def test_a_bad_header_checksum_is_an_error_naming_the_entry_before_it():
    tar = bytearray(three())
    tar[1536] ^= 0x01  # the name of "second" (after the first's header and two blocks of data)
    assert [e.path for e in by_tarfile(bytes(tar))] == ["first"]  # tarfile quietly ends the archive there
    with pytest.raises(
        BadTar, match=r"bad tar header checksum at offset 1536 \(name field b'recond'\), after entry 'first'"
    ):
        by_reader(bytes(tar))


def test_a_truncated_layer_is_an_error_naming_the_entry():
    tar = three()
    with pytest.raises(BadTar, match=r"the layer ends inside entry 'first' \(500 bytes missing\)"):
        by_reader(tar[: 512 + 200])
    with pytest.raises(BadTar, match=r"truncated tar header at offset 2560, after entry 'second'"):
        by_reader(tar[: 2560 + 100])


def test_a_pax_record_whose_length_lies_is_an_error():
    tar = bytearray(crafted(Member("p" * 120, data=b"x")))  # a pax header for the long path
    record = tar[512:1024]
    assert record.startswith(b"130 path=")
    tar[512:515] = b"999"
    assert by_tarfile(bytes(tar))[0].path != "p" * 120  # tarfile takes whatever the length points at
    with pytest.raises(BadTar, match="pax header at offset 0: its record at 0 claims 999 bytes, it has not"):
        by_reader(bytes(tar))


def test_a_sparse_map_claiming_petabytes_is_refused_before_any_hashing():
    tar = pax_sparse(b"1\n%d\n5\n" % ((1 << 50) - 5), b"tail!", realsize=1 << 50)
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="passes the layer_bytes budget"):
        list(scan(TarReader(io.BytesIO(tar).read), Meter()))
    assert time.perf_counter() - started < 1


def test_a_chain_of_extended_headers_is_refused_without_recursion():
    name = tarfile.TarInfo("././@LongLink")
    name.type, name.size = tarfile.GNUTYPE_LONGNAME, 2
    chain = (name.tobuf(tarfile.GNU_FORMAT) + b"n".ljust(512, b"\0")) * 100_000
    with pytest.raises(BadTar, match="a chain of more than 32 extended headers at offset 0"):
        by_reader(chain + three())


def mixed_tar(seed: int, fmt: int) -> bytes:
    """Members of every kind: long runs of plain ones, broken now and then by what only the general reader takes."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for number in range(1500):
            info = tarfile.TarInfo(f"d{number // 40}/f{number}")
            info.mtime, info.uid, info.gid, info.mode = 1_700_000_000 + number, number % 3, 7, 0o640
            data = b""
            plain, odd = rng.random(), rng.random()
            if plain < 0.75:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 700)))
            elif plain < 0.85:
                info.type, info.name = tarfile.DIRTYPE, f"d{number}/"
            elif plain < 0.9:
                info.type, info.linkname = tarfile.SYMTYPE, f"../x{number}"
            elif plain < 0.95:
                info.type, info.linkname = tarfile.LNKTYPE, "d0/f0"
            else:
                info.type = tarfile.FIFOTYPE
            if odd < 0.005:
                info.name = f"./dot/f{number}"
            elif odd < 0.01:
                info.name = "\u00fc/" + "long" * rng.randrange(1, 60)  # non-ASCII, maybe past 100 bytes
            elif odd < 0.015:
                info.uid = 1 << 40  # base-256 in GNU format, a pax record in pax format
            elif odd < 0.02 and info.type == tarfile.DIRTYPE:
                info.name += "/"  # two trailing slashes
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def list_noting_runs(monkeypatch, tar: bytes, runs: list[int]) -> None:
    """List ``tar``, appending to ``runs`` how many members each run of the numpy path (tarbatch) took."""
    import regkit.analysis.tarscan as tarscan

    real = tarscan.plain_run

    def noted(data, start):
        run = real(data, start)
        if run is not None:
            runs.append(run.count)
        return run

    with monkeypatch.context() as patched:
        patched.setattr(tarscan, "plain_run", noted)
        by_reader(tar)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_runs_of_plain_headers_list_what_one_at_a_time_lists(monkeypatch, fmt):
    """The numpy path (regkit/analysis/tarbatch.py) against the loop alone and against tarfile, entry for entry."""
    import regkit.analysis.tarscan as tarscan

    for seed in range(3):
        tar = mixed_tar(seed, fmt)
        taken: list[int] = []
        list_noting_runs(monkeypatch, tar, taken)
        runs = by_reader(tar)
        with monkeypatch.context() as patched:
            patched.setattr(tarscan, "plain_run", lambda data, start: None)
            alone = by_reader(tar)
        assert runs == alone == by_tarfile(tar)
        assert len(runs) > 1000 and sum(taken) > len(runs) // 2  # most members did go through the numpy path


def test_a_damaged_header_inside_a_run_is_refused_as_the_loop_refuses_it(monkeypatch):
    import regkit.analysis.tarscan as tarscan

    tar = bytearray(crafted(*(Member(f"f{i}", data=b"x" * 10) for i in range(200))))
    tar[1024 * 100 + 5] ^= 1  # a name byte of member 100: its checksum no longer matches
    taken: list[int] = []
    with pytest.raises(BadTar):
        list_noting_runs(monkeypatch, bytes(tar), taken)
    assert taken == [99]  # members 1-99 as one run (the loop reads the first, filling the buffer), 100 left to it
    with pytest.raises(BadTar) as in_run:
        by_reader(bytes(tar))
    monkeypatch.setattr(tarscan, "plain_run", lambda data, start: None)
    with pytest.raises(BadTar) as alone:
        by_reader(bytes(tar))
    assert str(in_run.value) == str(alone.value) and "bad tar header checksum at offset 102400" in str(alone.value)
