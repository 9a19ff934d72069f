"""``export``: the merged tree written safely, hostile layers refused with nothing written anywhere."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

import regkit
from regkit.analysis import analyze, export, problems
from regkit.lab.images import APPLETS

from .helpers import Member, crafted, push, push_unique, registry_blob_file

HOSTILE = [
    ("dotdot", Member("../../escaped.txt", data=b"pwned"), "entry '../../escaped.txt': '..' in the path"),
    ("absolute", Member("/tmp/absolute.txt", data=b"pwned"), "entry '/tmp/absolute.txt': absolute path"),
    (
        "symlink",
        Member("etc/evil", tarfile.SYMTYPE, link="../../../../../etc/passwd"),
        "entry 'etc/evil' is a symlink to '../../../../../etc/passwd', which leads outside",
    ),
    ("device", Member("dev/sda", tarfile.BLKTYPE), "entry 'dev/sda' is a block device"),
    ("hardlink", Member("h", tarfile.LNKTYPE, link="../x"), "entry 'h': '..' in the hard link target"),
]


def snapshot(folder: Path) -> list[tuple[str, int]]:
    """Every path below ``folder`` with its size, links not followed."""
    return sorted((str(p.relative_to(folder)), p.lstat().st_size) for p in folder.rglob("*"))


@pytest.mark.parametrize("name,member,message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_entries_are_listed_and_export_refuses_them(registry, tmp_path, name, member, message):
    ref = push(registry, f"hostile/{name}", crafted(Member("ok.txt", data=b"fine"), member))
    analysis = analyze(ref, insecure=True)
    assert [e.path for e in analysis.layers[0].entries] == ["ok.txt", member.name]
    parent = tmp_path / "parent"
    parent.mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(regkit.OutputError, match="refusing to export") as caught:
        export(analysis, parent / "out", insecure=True)
    assert message in str(caught.value) and "nothing was written" in str(caught.value)
    assert snapshot(tmp_path) == before  # nothing in DIR, beside it, or above it
    assert not Path("/tmp/absolute.txt").exists()


def test_symlink_chains_that_escape_are_refused(registry, tmp_path):
    # Each link stays inside on its own; followed through "dot" (-> .), "up" leaves the root.
    layers = (
        crafted(Member("up", tarfile.SYMTYPE, link="dot/..")),
        crafted(Member("dot", tarfile.SYMTYPE, link=".")),
    )
    analysis = analyze(push(registry, "hostile/chain", *layers), insecure=True)
    assert problems(analysis) == [
        "layer 0 entry 'up' is a symlink to 'dot/..', which leads outside the directory (or loops)"
    ]
    with pytest.raises(regkit.OutputError, match="'up' is a symlink"):
        export(analysis, tmp_path / "out", insecure=True)
    assert list(tmp_path.iterdir()) == []


def test_export_writes_the_merged_tree_with_whiteouts_applied(registry, tmp_path):
    layers = (
        crafted(
            Member("bin", tarfile.DIRTYPE, mode=0o755),
            Member("bin/su", data=b"setuid", mode=0o4755),
            Member("etc", tarfile.DIRTYPE, mode=0o755),
            Member("etc/old", data=b"o" * 100),
            Member("opt/stale", data=b"s" * 10),
            Member("big.bin", data=b"b" * 5000),
        ),
        crafted(
            Member(".wh.big.bin"),
            Member("opt/.wh..wh..opq"),
            Member("opt/fresh", data=b"f"),
            Member("etc/old", data=b"new"),
            Member("etc/localtime", tarfile.SYMTYPE, link="/usr/share/zoneinfo/UTC"),
            Member("usr/share/zoneinfo/UTC", data=b"TZif"),
            Member("etc/hard", tarfile.LNKTYPE, link="etc/old"),
            Member("root", tarfile.SYMTYPE, link="/"),
        ),
    )
    ref = push(registry, "analysis/export", *layers)
    out = tmp_path / "out"
    result = export(ref, out, insecure=True)
    assert snapshot(out) == [
        ("bin", (out / "bin").lstat().st_size),
        ("bin/su", 6),
        ("etc", (out / "etc").lstat().st_size),
        ("etc/hard", 3),
        ("etc/localtime", len("../usr/share/zoneinfo/UTC")),
        ("etc/old", 3),
        ("opt", (out / "opt").lstat().st_size),
        ("opt/fresh", 1),
        ("root", 1),
        ("usr", (out / "usr").lstat().st_size),
        ("usr/share", (out / "usr/share").lstat().st_size),
        ("usr/share/zoneinfo", (out / "usr/share/zoneinfo").lstat().st_size),
        ("usr/share/zoneinfo/UTC", 4),
    ]
    assert os.readlink(out / "etc/localtime") == "../usr/share/zoneinfo/UTC"
    assert (out / "etc/localtime").read_bytes() == b"TZif" and os.readlink(out / "root") == "."
    assert (out / "etc/hard").stat().st_ino == (out / "etc/old").stat().st_ino
    assert stat.S_IMODE((out / "bin/su").stat().st_mode) == 0o755 and result.dropped_setid == ("bin/su",)
    assert (result.files, result.symlinks, result.hardlinks, result.directories) == (4, 2, 1, 6)
    # Layer 0's only visible file is bin/su; big.bin (deleted) was never written.
    assert result.layers_read == (0, 1) and result.bytes == 6 + 1 + 3 + 4
    assert "bin/su" in result._repr_html_()


def test_export_refuses_a_non_empty_directory_and_cleans_up_after_a_failure(registry, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine").write_text("keep me")
    with pytest.raises(regkit.OutputError, match="not an empty directory"):
        export(f"{registry.host}/library/busybox:latest", busy, insecure=True)
    assert (busy / "mine").read_text() == "keep me"

    image = push_unique(registry, "analysis/tampered", b"tamper me\n" * 1000)
    ref = f"{registry.host}/analysis/tampered:v1"
    analysis = analyze(ref, insecure=True)
    layer = next(d for d in image.blobs if image.blobs[d] != image.config)
    stored = registry_blob_file(registry, layer)
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0xFF  # the second read of the layer no longer matches its digest
    stored.write_bytes(bytes(data))
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (tmp_path / "new", empty):
        with pytest.raises(regkit.VerificationError):
            export(analysis, target, insecure=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty"] and list(empty.iterdir()) == []


def test_busybox_export_has_the_files_of_its_layer(registry, tmp_path):
    result = export(f"{registry.host}/library/busybox:latest", tmp_path / "rootfs", insecure=True)
    assert (tmp_path / "rootfs/bin/busybox").stat().st_mode & 0o111
    assert os.readlink(tmp_path / "rootfs/bin/sh") == "busybox"
    assert (tmp_path / "rootfs/etc/motd").read_text() == "hello from the regkit lab\n"
    assert (result.files, result.symlinks, result.directories) == (2, len(APPLETS), 2)


def test_a_file_below_a_lower_layers_symlink_lands_inside(registry, tmp_path):
    # Layer 0 points lib outside; layer 1 writes below lib: the tree (like dive) replaces the link
    # with a directory, and export writes there, never through the link.
    layers = (
        crafted(Member("lib", tarfile.SYMTYPE, link="../../../../../../tmp")),
        crafted(Member("lib/planted.txt", data=b"inside")),
    )
    analysis = analyze(push(registry, "hostile/below-link", *layers), insecure=True)
    assert problems(analysis) == [] and analysis.waste == ()
    export(analysis, tmp_path / "out", insecure=True)
    assert (tmp_path / "out/lib").is_dir() and not (tmp_path / "out/lib").is_symlink()
    assert (tmp_path / "out/lib/planted.txt").read_bytes() == b"inside"
    assert not Path("/tmp/planted.txt").exists()
