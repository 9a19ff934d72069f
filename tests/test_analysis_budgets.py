"""Bounded work on hostile layers: bombs, sparse files, deep paths and entry floods, against the real registry."""

from __future__ import annotations

import os
import tarfile
import time
import tracemalloc

import pytest

import regkit
from regkit import BudgetExceeded, Budgets
from regkit.analysis import analyze, analyze_layer, export
from regkit.oci import mediatypes as mt

from .helpers import Member, cli, crafted, old_gnu_sparse, pax_sparse, push, registry_blob_file

MiB = 1 << 20


def refused(budget: str, scope: str = r"layer \d+ \(sha256:[0-9a-f]{64}\)") -> str:
    """The message of a :class:`BudgetExceeded` for ``budget``, as Python says it (the CLI names its flag)."""
    said = rf"{scope} passes the {budget} budget: more than \d+ .*; refused"
    return rf"{said} \(raise the budget with budgets=Budgets\({budget}="


def zeros(name: str, size: int) -> bytes:
    """A layer of one file of ``size`` zero bytes: it compresses to almost nothing."""
    return crafted(Member(name, data=bytes(size)))


def test_a_gzip_bomb_stops_at_the_layer_budget(registry):
    ref = push(registry, "budgets/gzipbomb", zeros("bomb", 64 * MiB))
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match=refused("layer_bytes")) as caught:
        analyze(ref, insecure=True, budgets=Budgets(layer_bytes=8 * MiB))
    assert caught.value.budget == "layer_bytes" and caught.value.exchange is not None
    assert isinstance(caught.value, regkit.VerificationError)
    assert time.perf_counter() - started < 30
    assert analyze(ref, insecure=True).uncompressed_size > 64 * MiB  # the defaults let a real-sized layer through


def test_zstd_layers_add_up_to_the_image_budget(registry):
    ref = push(registry, "budgets/zstdimage", zeros("a", 6 * MiB), zeros("b", 6 * MiB), compression=mt.ZSTD)
    budgets = Budgets(layer_bytes=8 * MiB, image_bytes=10 * MiB)
    scope = r"the image \(at layer 1 \(sha256:[0-9a-f]{64}\)\)"
    with pytest.raises(BudgetExceeded, match=refused("image_bytes", scope)):
        analyze(ref, insecure=True, budgets=budgets)
    assert analyze_layer(ref, 1, insecure=True, budgets=budgets).uncompressed_size > 6 * MiB  # one layer fits


def test_a_terabyte_sparse_file_is_refused_by_its_claimed_size_at_once(registry):
    # 10 KB of layer; tarfile would produce (and regkit hash) a TiB of zeros for it.
    layer = pax_sparse(b"1\n%d\n5\n" % ((1 << 40) - 5), b"tail!", realsize=1 << 40)
    assert len(layer) < 16 << 10
    ref = push(registry, "budgets/sparsebomb", layer)
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match=refused("layer_bytes")):
        analyze(ref, insecure=True)
    assert time.perf_counter() - started < 10


def test_export_leaves_sparse_holes_unwritten_and_exports_old_gnu_sparse_files(registry, tmp_path):
    claimed = 256 * MiB
    layers = (
        pax_sparse(b"2\n0\n4\n%d\n4\n" % (claimed - 4), b"headtail", realsize=claimed),
        old_gnu_sparse([(1000, 3), (5000, 2)], 8000),
    )
    out = tmp_path / "out"
    result = export(push(registry, "budgets/sparse", *layers), out, insecure=True)
    real = out / "real"
    assert real.stat().st_size == claimed and real.stat().st_blocks * 512 < MiB  # the holes stayed holes
    with real.open("rb") as handle:
        assert handle.read(4) == b"head" and handle.read(4) == b"\0" * 4
        handle.seek(claimed - 4)
        assert handle.read() == b"tail"
    # An old GNU sparse member is a regular file with holes, not a "special file".
    assert (out / "sparse").read_bytes() == bytes(1000) + b"AAA" + bytes(3997) + b"BB" + bytes(2998)
    assert result.files == 3 and result.bytes == claimed + 8000 + 1


def test_pull_stops_converting_a_zstd_bomb_at_the_budget(registry, tmp_path):
    ref = push(registry, "budgets/pullbomb", zeros("bomb", 64 * MiB), compression=mt.ZSTD)
    output = tmp_path / "image.tar"
    with pytest.raises(BudgetExceeded, match=refused("layer_bytes")):
        regkit.pull(ref, output, insecure=True, budgets=Budgets(layer_bytes=8 * MiB))
    assert list(tmp_path.iterdir()) == []  # neither the tar nor the work directory
    run = cli("pull", ref, "--insecure-registry", "-o", str(output), "--max-layer-bytes", "8MiB", cwd=tmp_path)
    assert run.returncode == 1 and "layer_bytes budget" in run.stderr and "--max-layer-bytes" in run.stderr
    assert "internal error" not in run.stderr and list(tmp_path.iterdir()) == []
    regkit.pull(ref, output, insecure=True)  # the default budget converts it
    assert output.stat().st_size > 64 * MiB


def test_entries_add_up_to_the_image_budget_across_layers(registry):
    layers = [crafted(*(Member(f"l{k}/{i}") for i in range(50_000))) for k in range(4)]
    ref = push(registry, "budgets/entries", *layers)
    scope = r"the image \(at layer 3 \(sha256:[0-9a-f]{64}\)\)"
    with pytest.raises(BudgetExceeded, match=refused("image_entries", scope)):
        analyze(ref, insecure=True, budgets=Budgets(image_entries=150_000))
    with pytest.raises(BudgetExceeded, match=refused("layer_entries")):
        analyze(ref, insecure=True, budgets=Budgets(layer_entries=49_999))
    tracemalloc.start()
    try:
        analysis = analyze(ref, insecure=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(layer.file_count for layer in analysis.layers) == 200_000
    assert peak < 400 * 200_000, peak  # under 400 bytes an entry: listing, tree node and digest together


def deep(depth: int) -> str:
    """``a/a/…/a``, ``depth`` components."""
    return "/".join(["a"] * depth)


def test_a_deep_path_costs_its_depth_not_its_square(registry, tmp_path):
    depth = 20_000
    ref = push(registry, "budgets/deep", crafted(Member(deep(depth), data=b"x")))
    started = time.perf_counter()
    tracemalloc.start()
    try:
        analysis = analyze(ref, insecure=True)
        result = export(analysis, tmp_path / "out", insecure=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    assert peak < 64 * MiB, peak  # the old tree kept every directory's full path: 516 MB at this depth
    assert seconds < 120, seconds  # the old export reopened every component for every directory
    assert (result.files, result.directories) == (1, depth - 1)
    fd = os.open(tmp_path / "out", os.O_RDONLY)
    for _ in range(depth - 1):  # a component at a time: the whole path is longer than PATH_MAX
        fd, parent = os.open("a", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd), fd
        os.close(parent)
    try:
        assert os.stat("a", dir_fd=fd, follow_symlinks=False).st_size == 1
        os.unlink("a", dir_fd=fd)
        for _ in range(depth - 1):  # pytest's own clean-up would recurse once a level, past the recursion limit
            fd, child = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(child)
            os.rmdir("a", dir_fd=fd)
    finally:
        os.close(fd)


def test_a_path_deeper_than_the_path_budget_is_a_budget_error(registry, tmp_path):
    ref = push(registry, "budgets/deeper", crafted(Member(deep(100_000), data=b"x")))
    scope = r"the image \(at layer 0 \(sha256:[0-9a-f]{64}\)\)"
    with pytest.raises(BudgetExceeded, match=refused("path_bytes", scope)):
        analyze(ref, insecure=True)  # 10 GB of paths: the old tree ran out of memory
    run = cli("layers", ref, "--insecure-registry", "--max-path-bytes", "1MiB", cwd=tmp_path)
    assert run.returncode == 1 and "path_bytes budget" in run.stderr and "internal error" not in run.stderr


def test_export_names_the_entry_whose_name_is_too_long(registry, tmp_path):
    name = "dir/" + "n" * 300  # a component past NAME_MAX (255)
    ref = push(registry, "budgets/longname", crafted(Member("ok", data=b"1"), Member(name, data=b"x")))
    with pytest.raises(regkit.OutputError, match=f"failed at entry '{name[:200]}…\\(304 characters\\)': File name too"):
        export(ref, tmp_path / "out", insecure=True)
    assert list(tmp_path.iterdir()) == []


def test_export_checks_the_second_reading_of_a_layer_again(registry, tmp_path):
    # The blob changes between the analysis and the write pass (same size, another digest): "x" turns
    # from the regular file the analysis checked into a symlink to the host's /etc/passwd.
    before = crafted(Member("x"))
    after = crafted(Member("x", tarfile.SYMTYPE, link="../../../../../../etc/passwd"))
    assert len(before) == len(after)
    ref = push(registry, "budgets/switch", before, compression=mt.TAR)
    analysis = analyze(ref, insecure=True)
    registry_blob_file(registry, analysis.layers[0].descriptor.digest).write_bytes(after)
    with pytest.raises(regkit.VerificationError, match=r"layer 0 changed between its two readings: entry 'x' \(type"):
        export(analysis, tmp_path / "out", insecure=True)
    assert list(tmp_path.iterdir()) == []


def test_budget_options_parse_and_show_their_defaults(tmp_path):
    run = cli("export", "--help", cwd=tmp_path)
    for option in ("--max-layer-bytes", "--max-image-bytes", "--max-layer-entries", "--max-image-entries"):
        assert option in run.stdout
    assert "--max-path-bytes" in run.stdout and str(Budgets().layer_bytes) in run.stdout
    bad = cli("layers", "r", "--max-layer-entries", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr
    assert "--max-layer-bytes" in cli("pull", "--help", cwd=tmp_path).stdout
