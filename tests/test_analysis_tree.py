"""The merged tree, whiteouts and waste, on layer tars built in memory (pure: no server)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from regkit.analysis import tarscan
from regkit.analysis.entries import FILE, Builder, FileEntry
from regkit.analysis.filesystem import Filesystem, Waste, parts_of
from regkit.analysis.layers import LayerReport, duplicates, scan
from regkit.analysis.tarscan import BadTar, TarReader
from regkit.lab import imagebuild as ib
from regkit.oci.digest import Digest
from regkit.oci.manifest import Descriptor

from .helpers import Member, crafted, old_gnu_sparse, pax_sparse


def entries(tar: bytes) -> list[FileEntry]:
    """A layer tar listed the way a streamed layer is."""
    return list(scan(TarReader(io.BytesIO(tar).read)))


def build(*layers: bytes) -> Filesystem:
    tree = Filesystem()
    for index, tar in enumerate(layers):
        tree.apply(index, entries(tar))
    return tree


def paths(tree: Filesystem) -> list[str]:
    return [path for path, _ in tree.walk()]


def test_whiteout_removes_a_whole_directory_of_lower_layers():
    tree = build(
        ib.tar_layer([ib.file("a/b/c.txt", b"c" * 10), ib.file("a/d.txt", b"d" * 5), ib.file("keep", b"k")]),
        ib.tar_layer([ib.whiteout("a/b")]),
    )
    assert paths(tree) == ["a", "a/d.txt", "keep"]
    change = tree.changes[1]
    assert (change.deleted, change.deleted_bytes) == (2, 10)  # a/b (implied by c.txt) and a/b/c.txt
    assert tree.waste == [Waste("a/b/c.txt", 10, 0, 1, "deleted")]


def test_opaque_directory_hides_lower_contents_but_keeps_its_own_layer():
    tree = build(
        ib.tar_layer([ib.directory("etc"), ib.file("etc/old", b"o" * 7), ib.file("etc/other", b"x")]),
        ib.tar_layer([ib.file("etc/new", b"n"), ib.file("etc/.wh..wh..opq", b"")]),
    )
    assert paths(tree) == ["etc", "etc/new"]
    assert sum(w.size for w in tree.waste) == 8


def test_whiteouts_act_on_lower_layers_only():
    # The whiteout comes after the file in the tar, yet the file of its own layer stays.
    tree = build(ib.tar_layer([ib.file("x", b"old")]), ib.tar_layer([ib.file("x", b"new!"), ib.whiteout("x")]))
    assert [tree.lookup(["x"]).entry.size] == [4]
    assert tree.waste == [Waste("x", 3, 0, 1, "deleted")]


def test_type_changes_replace_subtrees_and_files():
    tree = build(
        ib.tar_layer([ib.file("d/inner", b"i" * 3), ib.file("f", b"f" * 2)]),
        ib.tar_layer([ib.file("d", b"now a file"), ib.file("f/below", b"b")]),
    )
    assert paths(tree) == ["d", "f", "f/below"]
    assert tree.lookup(["f"]).children is not None
    assert sorted(tree.waste) == [Waste("d/inner", 3, 0, 1, "deleted"), Waste("f", 2, 0, 1, "overwritten")]


def test_directory_over_directory_keeps_its_contents_and_takes_the_new_mode():
    tree = build(
        ib.tar_layer([ib.directory("srv"), ib.file("srv/a", b"a")]),
        crafted(Member("srv", tarfile.DIRTYPE, mode=0o700)),
    )
    assert paths(tree) == ["srv", "srv/a"] and tree.lookup(["srv"]).entry.mode == 0o700
    assert tree.changes[1].modified == 1 and tree.waste == []


def test_efficiency_inputs_add_up():
    tree = build(
        ib.tar_layer([ib.file("a", b"1" * 100), ib.file("b", b"2" * 50)]),
        ib.tar_layer([ib.file("a", b"3" * 10), ib.whiteout("b")]),
    )
    wasted = sum(w.size for w in tree.waste)
    assert (tree.written_bytes, wasted, tree.final_bytes) == (160, 150, 10)


def test_unsafe_entries_are_listed_and_kept_out_of_the_tree():
    tar = crafted(
        Member("../escape", data=b"e"),
        Member("/abs", data=b"a"),
        Member("ok/../../up", data=b"u"),
        Member("link", tarfile.LNKTYPE, link="../outside"),
        Member("./fine", data=b"f"),
    )
    listed = entries(tar)
    assert [e.path for e in listed] == ["../escape", "/abs", "ok/../../up", "link", "fine"]
    tree = build(tar)
    assert paths(tree) == ["fine"]
    assert [(u.path, u.reason) for u in tree.unsafe] == [
        ("../escape", "'..' in the path"),
        ("/abs", "absolute path"),
        ("ok/../../up", "'..' in the path"),
        ("link", "'..' in the hard link target"),
    ]


@pytest.mark.parametrize(
    "start,target,expected",
    [
        ("a", "b", ("a", "b")),
        ("a", "../b", ("b",)),
        ("a", "../../b", None),
        ("", "/etc/passwd", ("etc", "passwd")),
        ("", "/../etc", None),
        ("", "dot/..", None),  # dot -> . makes dot/.. the parent of the root
        ("", "dot/x", ("x",)),
        ("", "loop", None),
        ("", "abs/x", ("x",)),  # abs -> / counts from the root
    ],
)
def test_symlinks_resolve_through_the_tree(start, target, expected):
    tree = build(
        crafted(
            Member("dot", tarfile.SYMTYPE, link="."),
            Member("loop", tarfile.SYMTYPE, link="loop"),
            Member("abs", tarfile.SYMTYPE, link="/"),
            Member("a", tarfile.DIRTYPE, mode=0o755),
        )
    )
    assert tree.resolve(parts_of(start), target) == expected


def test_deep_paths_do_not_hit_the_recursion_limit():
    deep = "/".join(["d"] * 3000)
    tree = build(crafted(Member(f"{deep}/f", data=b"x")), ib.tar_layer([ib.whiteout("d")]))
    assert paths(tree) == [] and tree.waste == [Waste(f"{deep}/f", 1, 0, 1, "deleted")]


@pytest.mark.parametrize("link", ["", "l" * 200])  # the long name alone, or after a long-link header
def test_extended_headers_over_the_cap_are_refused(monkeypatch, link):
    monkeypatch.setattr(tarscan, "MAX_EXTENDED_HEADER", 1024)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("n" * 1024)  # 1025 bytes with its NUL
        info.type, info.linkname = (tarfile.SYMTYPE, link) if link else (tarfile.REGTYPE, "")
        tar.addfile(info)
    with pytest.raises(BadTar, match=r"GNU long-name header of 1025 bytes at offset [0-9]+: refused"):
        entries(buffer.getvalue())
    assert [e.path for e in entries(crafted(Member("p" * 1000, data=b"x")))] == ["p" * 1000]  # a pax header under it


def bounded(tar: bytes) -> list[tuple[str, int, object, str]]:
    """Name, size, sparse map and content digest of every member."""
    reader = TarReader(io.BytesIO(tar).read)
    return [(m.name, m.size, m.sparse, reader.digest(m, hashlib.sha256)) for m in reader]


def stock(tar: bytes) -> list[tuple[str, int, object, str]]:
    """The same as tarfile reads it."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r|") as archive:
        return [(m.name, m.size, m.sparse, hashlib.sha256(archive.extractfile(m).read()).hexdigest()) for m in archive]


def long_path(index: int) -> str:
    """A path whose pax header is 1 MiB - 1 bytes: the record is "1048575 path=...\n"."""
    return f"{index}/".ljust(tarscan.MAX_EXTENDED_HEADER - 15, "p")


BUDGET_REFUSED = r"at offset [0-9]+: refused, the layer's headers and sparse maps pass {} bytes"


def test_extended_headers_add_up_to_the_layer_budget(monkeypatch):
    monkeypatch.setattr(tarscan, "MAX_LAYER_METADATA", 3 << 20)  # three such headers fit, not four

    def listed(count: int) -> list[str]:
        tar = crafted(*(Member(long_path(i), data=b"x") for i in range(count)))
        return [entry.path for entry in scan(TarReader(io.BytesIO(tar).read))]

    assert listed(3) == [long_path(i) for i in range(3)]
    with pytest.raises(BadTar, match="pax extended header of 1048575 bytes " + BUDGET_REFUSED.format(3 << 20)):
        listed(4)


def global_headers(count: int) -> bytes:
    """Global pax headers of about 64 KiB each, with keys of their own so they all stay in ``pax_headers``."""
    return b"".join(
        tarfile.TarInfo.create_pax_global_header({f"h{n}.{i}": "v" * 1000 for i in range(64)}) for n in range(count)
    )


def test_global_pax_headers_count_against_the_layer_budget(monkeypatch):
    monkeypatch.setattr(tarscan, "MAX_LAYER_METADATA", 1 << 20)
    monkeypatch.setattr(tarscan, "MAX_GLOBAL_HEADERS", 8 << 20)  # this test is about the layer budget
    assert [e.path for e in entries(global_headers(15) + crafted(Member("f", data=b"x")))] == ["f"]
    with pytest.raises(BadTar, match=r"pax global header of [0-9]+ bytes " + BUDGET_REFUSED.format(1 << 20)):
        entries(global_headers(17) + crafted(Member("f", data=b"x")))


def test_global_pax_headers_have_a_small_cap_of_their_own():
    """Every later entry copies them, so their cost multiplies: 64 KiB in all, far beyond real use."""
    one = tarfile.TarInfo.create_pax_global_header({"comment": "v" * 40_000})
    assert [e.path for e in entries(one + crafted(Member("f", data=b"x")))] == ["f"]
    with pytest.raises(BadTar, match="pax global headers pass 65536 bytes"):
        entries(one + one + crafted(Member("f", data=b"x")))


def test_old_gnu_sparse_maps_are_read_as_tarfile_reads_them_and_capped():
    regions = [(10 * i, 3) for i in range(1, 4 + 21 * 3)]  # three extension blocks, the last one not full
    tar = old_gnu_sparse(regions, 1000)
    assert bounded(tar) == stock(tar) and stock(tar)[0][:3] == ("sparse", 1000, regions)
    blocks = tarscan.MAX_EXTENDED_HEADER // 512 + 1  # a map of more than 1 MiB
    hostile = old_gnu_sparse([(2 * i + 1, 1) for i in range(4 + 21 * blocks)], 2 * (4 + 21 * blocks))
    assert stock(hostile)[-1][0] == "after"  # tarfile alone reads the whole map
    with pytest.raises(BadTar, match=r"GNU sparse map of 1049088 bytes at offset 0: refused, more than 1048576"):
        bounded(hostile)


def test_pax_sparse_maps_are_read_as_tarfile_reads_them_and_capped():
    regions = [(10000 + 10 * i, 1) for i in range(200)]  # a map of three blocks, numbers across their borders
    text = b"200\n" + b"".join(b"%d\n%d\n" % region for region in regions)
    tar = pax_sparse(text, bytes(range(200)), 12000)
    assert bounded(tar) == stock(tar) and stock(tar)[0][:3] == ("real", 12000, regions)
    with pytest.raises(BadTar, match=r"GNU sparse map of 1049088 bytes at offset 0: refused, more than 1048576"):
        bounded(pax_sparse(b"%d\n" % 10**9 + b"0\n" * (1 << 20)))
    with pytest.raises(BadTar, match=r"GNU sparse map at offset 0: b'x' is not a number"):
        bounded(pax_sparse(b"1\nx\n1\n"))  # tarfile alone raises a ValueError


def test_an_ordinary_layer_fits_the_budget_many_times_over():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(3000):
            info = tarfile.TarInfo(f"usr/lib/node_modules/pkg{i // 100}/lib/módulo-{i}.js")  # non-ASCII: a pax path
            info.pax_headers = {"mtime": f"1700000000.{i}", "SCHILY.xattr.user.origin": "npm"}
            info.size = 3
            tar.addfile(info, io.BytesIO(b"x=1"))
    tar_bytes = buffer.getvalue()
    reader = TarReader(io.BytesIO(tar_bytes).read)
    listed = list(scan(reader))
    charged = reader.metadata
    assert [e.path for e in listed] == [m[0] for m in stock(tar_bytes)]
    assert 3000 * 100 < charged < tarscan.MAX_LAYER_METADATA // 100


def test_duplicates_are_told_by_the_whole_digest_not_its_first_64_bits():
    """Grouping sorts by 64 bits first; two digests sharing them (a crafted layer could) stay apart."""
    same_start = b"\x01" * 8
    digest_a, digest_b = same_start + b"a" * 24, same_start + b"b" * 24

    def layer(index: int, *files: tuple[str, bytes]) -> LayerReport:
        built = Builder()
        for path, digest in files:
            built.add(path.encode(), FILE, 10, 0o644, 0, 0, 0, digest=digest)
        descriptor = Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.of(b"%d" % index), 1)
        return LayerReport(index, descriptor, 0, descriptor.digest, built.done())

    found = duplicates([layer(0, ("x", digest_a), ("y", digest_b)), layer(1, ("z", digest_a), ("w", digest_b))])
    assert found == [
        (digest_a.hex(), 10, [(0, "x"), (1, "z")]),
        (digest_b.hex(), 10, [(0, "y"), (1, "w")]),
    ]
    assert duplicates([layer(0, ("x", digest_a)), layer(1, ("y", digest_b))]) == []
