"""The command line: exit codes, clear one-line errors, nothing left behind on failure."""

from __future__ import annotations

import json
import subprocess
import sys

from regkit.cli.common import print_json

from .helpers import cli, push_unique, registry_blob_file


def test_acceptance_pull_load_run(registry, engine, tmp_path):
    ref = f"{registry.host}/library/busybox:latest"
    done = cli("pull", ref, "-o", "bb.tar", "--insecure-registry", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote bb.tar" in done.stderr
    assert ref in engine.run("load", "-i", str(tmp_path / "bb.tar")).stdout
    assert engine.run("run", "--rm", "--network", "none", ref, "echo", "hello").stdout == "hello\n"


def test_default_output_name_and_quiet(registry, tmp_path):
    done = cli("pull", f"{registry.host}/library/whiteout", "--insecure-registry", "-q", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "whiteout_latest.tar"
    assert (tmp_path / "whiteout_latest.tar").is_file()
    assert done.stderr == ""


def test_bad_reference_exits_2_with_one_line(tmp_path):
    done = cli("pull", "Bad//Ref", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("regkit: error: invalid image reference 'Bad//Ref'")
    assert "Traceback" not in done.stderr


def test_bad_options_exit_2(tmp_path):
    assert cli("pull", "alpine", "--platform", "a/b/c/d", cwd=tmp_path).returncode == 2
    assert "--password-stdin" in cli("pull", "alpine", "-u", "bob", cwd=tmp_path).stderr
    assert cli("pull", "alpine", "--jobs", "0", cwd=tmp_path).returncode == 2
    assert cli("pull", "alpine", "--mirror", "ftp://x", cwd=tmp_path).returncode == 2
    assert cli("pull", cwd=tmp_path).returncode == 2


def test_digest_pinned_pull_of_other_bytes_fails_and_writes_nothing(registry, tmp_path):
    image = push_unique(registry, "tamper/manifest", b"manifest test\n")
    stored = registry_blob_file(registry, image.digest)
    # The registry serves what is on its disk: whitespace changes the bytes, not the meaning.
    stored.write_bytes(image.manifest + b"\n")
    done = cli(
        "pull", f"{registry.host}/tamper/manifest@{image.digest}", "-o", "t.tar", "--insecure-registry", cwd=tmp_path
    )
    assert done.returncode == 1
    assert f"not the requested {image.digest}" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_corrupted_layer_fails_verification_and_leaves_no_partial_file(registry, tmp_path):
    image = push_unique(registry, "tamper/layer", b"layer test\n" * 1000)
    layer = next(d for d in image.blobs if image.blobs[d] != image.config)
    stored = registry_blob_file(registry, layer)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    done = cli(
        "pull",
        f"{registry.host}/tamper/layer:v1",
        "-o",
        "t.tar",
        "--insecure-registry",
        "--cache-dir",
        "cache",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"should have digest {layer}" in done.stderr
    assert not (tmp_path / "t.tar").exists()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(".partial")]
    assert leftovers == [] and not (tmp_path / "cache/blobs/sha256" / layer.hex).exists()


def test_unreachable_registry_exits_1(tmp_path):
    done = cli("pull", "127.0.0.1:9/x/y", "--insecure-registry", cwd=tmp_path)
    assert done.returncode == 1 and "refused" in done.stderr and "Traceback" not in done.stderr


def test_cli_imports_no_notebook_libraries():
    heavy = "('pandas', 'matplotlib', 'ipywidgets', 'tqdm')"
    code = f"import sys, regkit.cli.main as m; m._parser(); print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_command_imports_only_its_own_group():
    code = (
        "import sys; from regkit.cli.main import _parser; _parser(['pull', 'x']);"
        "print(sorted(m for m in sys.modules if m.startswith('regkit.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(["regkit.cli.common", "regkit.cli.main", "regkit.cli.pull", "regkit.cli.signals"])


def test_a_large_json_document_is_indented_at_its_top_level_only(capsys):
    """Past 1 MB the C encoder writes each value on one line (json's indenting encoder is ~10x slower)."""
    document = {"reference": "r", "places": [{"layer": i, "path": f"usr/{i}"} for i in range(60000)], "n": 1}
    print_json(document)
    printed = capsys.readouterr().out
    assert json.loads(printed) == document
    assert [line[:14] for line in printed.splitlines()] == ["{", '  "reference":', '  "places": [{', '  "n": 1', "}"]
    print_json({"small": [1, 2]})
    assert capsys.readouterr().out == '{\n  "small": [\n    1,\n    2\n  ]\n}\n'
