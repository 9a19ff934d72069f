"""The merged tree, whiteouts and waste, on layer tars built in memory (pure: no server)."""

from __future__ import annotations

import io
import tarfile

import pytest

from regkit import imagebuild as ib
from regkit.analysis import layers
from regkit.analysis.filesystem import Filesystem, Waste, parts_of
from regkit.analysis.layers import BoundedTarInfo, FileEntry, scan

from .helpers import Member, crafted


def entries(tar: bytes) -> list[FileEntry]:
    """A layer tar listed the way a streamed layer is."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r|", tarinfo=BoundedTarInfo) as archive:
        return list(scan(archive))


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
    monkeypatch.setattr(layers, "MAX_EXTENDED_HEADER", 1024)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("n" * 1024)  # 1025 bytes with its NUL
        info.type, info.linkname = (tarfile.SYMTYPE, link) if link else (tarfile.REGTYPE, "")
        tar.addfile(info)
    with pytest.raises(tarfile.TarError, match=r"GNU long-name header of 1025 bytes at offset [0-9]+: refused"):
        entries(buffer.getvalue())
    assert [e.path for e in entries(crafted(Member("p" * 1000, data=b"x")))] == ["p" * 1000]  # a pax header under it
