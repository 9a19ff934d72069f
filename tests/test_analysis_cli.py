"""``regkit layers | files | analyze | export | sizes | compare`` as a user or a CI job runs them."""

from __future__ import annotations

import json
import tarfile

import pytest

from .helpers import Member, cli, crafted, push


def run(registry, tmp_path, command: str, *args: str):
    """``regkit COMMAND ARGS --insecure-registry``."""
    return cli(command, *args, "--insecure-registry", cwd=tmp_path)


@pytest.mark.parametrize(
    "limits,code",
    [
        (["--lowest-efficiency", "0.99"], 1),
        (["--lowest-efficiency", "0.1"], 0),
        (["--highest-wasted-bytes", "5MiB"], 0),
        (["--highest-wasted-bytes", "5MB"], 1),
        (["--lowest-efficiency", "0.1", "--highest-wasted-bytes", "1000"], 1),
        ([], 0),
    ],
)
def test_analyze_thresholds_set_the_exit_code(registry, tmp_path, limits, code):
    done = run(registry, tmp_path, "analyze", f"{registry.host}/library/whiteout", *limits)
    assert done.returncode == code, done.stderr
    assert "5242880      1           2  deleted  data/big.bin" in done.stdout
    assert ("checks failed" in done.stderr) == (code == 1) and "Traceback" not in done.stderr


def test_analyze_json_parses_and_carries_the_checks(registry, tmp_path):
    done = run(
        registry, tmp_path, "analyze", f"{registry.host}/library/whiteout", "--json", "--lowest-efficiency", "0.99"
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["wasted_bytes"] == 5242880 and report["waste"][0]["path"] == "data/big.bin"
    assert report["checks"] == [
        {"check": "lowest-efficiency", "limit": 0.99, "value": report["efficiency"], "passed": False}
    ]
    assert [layer["deleted_bytes"] for layer in report["layers"]] == [0, 0, 5242880]


def test_layers_and_files(registry, tmp_path):
    ref = f"{registry.host}/library/layers"
    table = run(registry, tmp_path, "layers", ref)
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 7 and "ADD layer5 /" in table.stdout
    quick = json.loads(run(registry, tmp_path, "layers", ref, "--no-download", "--json").stdout)
    full = json.loads(run(registry, tmp_path, "layers", ref, "--json").stdout)
    assert [row["uncompressed_size"] for row in quick] == [row["uncompressed_size"] for row in full]
    top = run(registry, tmp_path, "files", f"{registry.host}/library/whiteout", "--layer", "1", "--top", "1")
    assert top.stdout.splitlines()[1].split() == ["-rw-r--r--", "0/0", "5242880", "1", "data/big.bin"]
    merged = json.loads(run(registry, tmp_path, "files", f"{registry.host}/library/whiteout", "--json").stdout)
    assert "data/big.bin" not in {f["path"] for f in merged} and {"bin/sh", "data"} <= {f["path"] for f in merged}


def test_bad_input_exits_2(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout"
    for args in (["--lowest-efficiency", "2"], ["--highest-wasted-bytes", "lots"]):
        done = run(registry, tmp_path, "analyze", ref, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr
    done = run(registry, tmp_path, "files", ref, "--layer", "9")
    assert done.returncode == 2 and "layer 9 does not exist" in done.stderr
    assert run(registry, tmp_path, "layers", ref, "--platform", "a/b/c/d").returncode == 2


def test_export_writes_and_refuses(registry, tmp_path):
    done = run(registry, tmp_path, "export", f"{registry.host}/library/whiteout", "rootfs")
    assert done.returncode == 0 and "wrote rootfs" in done.stderr
    assert (tmp_path / "rootfs/bin/busybox").is_file() and not (tmp_path / "rootfs/data/big.bin").exists()
    hostile = push(registry, "hostile/cli", crafted(Member("x", tarfile.SYMTYPE, link="../../../etc/shadow")))
    refused = run(registry, tmp_path, "export", hostile, "evil")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "entry 'x' is a symlink to '../../../etc/shadow', which leads outside" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs"]


def test_sizes_and_compare(registry, tmp_path):
    sizes = json.loads(run(registry, tmp_path, "sizes", f"{registry.host}/library/busybox:multiarch", "--json").stdout)
    assert len(sizes["images"]) == 4 and sizes["shared_bytes"] == 0
    done = run(registry, tmp_path, "compare", f"{registry.host}/library/busybox", f"{registry.host}/library/whiteout")
    assert done.returncode == 0 and "1 shared layers" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].split() == ["added", "data"]


def test_help_lists_the_commands(tmp_path):
    usage = cli("--help", cwd=tmp_path).stdout
    assert all(name in usage for name in ("layers", "files", "analyze", "export", "sizes", "compare"))


def test_pull_analyze_reads_the_layers_it_pulled_from_the_cache(registry, tmp_path):
    """One download of each blob: the analysis after the pull reads them from the blob cache."""
    ref = f"{registry.host}/library/whiteout"
    cache = tmp_path / "cache"
    done = run(
        registry,
        tmp_path,
        "pull",
        ref,
        "-o",
        "out.tar",
        "--cache-dir",
        str(cache),
        "--analyze",
        "--transcript",
        "t.har",
    )
    assert done.returncode == 0, done.stderr
    assert tarfile.is_tarfile(tmp_path / "out.tar")
    assert "5242880      1           2  deleted  data/big.bin" in done.stdout  # the waste table of analyze
    entries = json.loads((tmp_path / "t.har").read_text())["log"]["entries"]
    blobs = [
        e["request"]["url"] for e in entries if "/blobs/" in e["request"]["url"] and e["request"]["method"] == "GET"
    ]
    assert len(blobs) == len(set(blobs)) == 4  # the config and three layers, each fetched once
    assert len(list((cache / "listings").rglob("*"))) > 3  # the listings kept for the next analysis
    refused = run(registry, tmp_path, "pull", ref, "--analyze", "--no-cache")
    assert refused.returncode == 2 and "--no-cache" in refused.stderr and "Traceback" not in refused.stderr
