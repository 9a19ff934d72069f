"""Layer analysis against GNU tar: the same layers listed, measured in interleaved rounds of one run.

    python benchmarks/analysis_benchmark.py [--layers 8] [--entries 600000] [--rounds 3]

Generates an image of many small files (``--entries`` in all, spread over ``--layers`` gzip
layers; never committed as data), pushes it to Debian's docker-registry, pulls it once so its
blobs are in a fresh regkit blob cache, then per round runs, each in a child process measured by
``pull_benchmark.measure`` (wall time, peak RSS):

- ``tar -tvzf``: GNU tar listing the layer blobs one after another (the C floor);
- ``regkit analyze (cold)``: ``regkit analyze --json`` with the blobs local and no analysis cached;
- ``regkit analyze (warm)``: the same again, the merged results and listings read back from the cache;
- ``analyze (warm, text)``: the same without ``--json`` (its tables, not 11 MB of JSON);
- ``regkit pull`` and ``regkit pull --analyze``, each into an empty blob cache (the same download,
  then for the second the analysis reading the layers back from the cache);
- ``python -c pass``, ``regkit --help``: the start-up the warm run includes.

Then each gzip reader regkit could use (zlib, zlib-ng, ISA-L's igzip, libdeflate, rapidgzip: those
installed; ``pip install .[bench]``) decompresses every layer blob in this process, interleaved.

Prints medians, the ratios the README reports, the load average before and after (the machine is
shared), and the per-entry memory the peak RSS works out to. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pull_benchmark import measure

import regkit
from regkit.lab import imagebuild as ib
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_image

_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")


def header(name: bytes, size: int, kind: bytes = b"0", mode: int = 0o644) -> bytes:
    """A ustar header (the layer is written here: tarfile takes minutes for 600,000 members)."""
    fields = [name, b"%07o\0" % mode, b"0000000\0", b"0000000\0", b"%011o\0" % size, b"14000000000\0", b" " * 8]
    block = bytearray(_HEADER.pack(*fields, kind, b"", b"ustar\0", b"00", b"root", b"root", b"", b"", b""))
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def layer_tar(index: int, entries: int) -> bytes:
    """A layer of ``entries`` members: a directory every 50 files, files of 0-400 bytes of text."""
    rng = random.Random(index)
    parts = []
    for number in range(entries):
        directory = b"usr/share/layer%d/pkg%04d" % (index, number // 50)
        if number % 50 == 0:
            parts.append(header(directory + b"/", 0, b"5", 0o755))
            continue
        data = b"%d:" % number * rng.randrange(0, 60)
        parts.append(header(b"%s/file-%06d.txt" % (directory, number), len(data)))
        parts.append(data + bytes(-len(data) % 512))
    parts.append(bytes(1024))
    return b"".join(parts)


def _drain(reader: io.BufferedIOBase) -> int:
    count = 0
    while chunk := reader.read(1 << 20):
        count += len(chunk)
    return count


def _gzip_readers() -> dict[str, Callable[[bytes], int]]:
    """The gzip decompressors to compare, each reading a whole blob; those not installed are left out."""
    readers: dict[str, Callable[[bytes], int]] = {}
    readers["zlib (gzip module)"] = lambda b: _drain(gzip.GzipFile(fileobj=io.BytesIO(b)))
    with contextlib.suppress(ImportError):
        from zlib_ng import gzip_ng

        readers["zlib-ng (gzip_ng)"] = lambda b: _drain(gzip_ng.GzipFile(fileobj=io.BytesIO(b)))
    with contextlib.suppress(ImportError):
        from isal import igzip

        readers["isal (igzip)"] = lambda b: _drain(igzip.GzipFile(fileobj=io.BytesIO(b)))
    with contextlib.suppress(ImportError):
        import deflate

        readers["libdeflate (whole blob in memory)"] = lambda b: len(deflate.gzip_decompress(b))
    with contextlib.suppress(ImportError):
        import rapidgzip

        readers["rapidgzip (2 threads)"] = lambda b: _drain(rapidgzip.RapidgzipFile(io.BytesIO(b), parallelization=2))
    return readers


def compare_readers(files: list[Path], rounds: int) -> None:
    """Each gzip reader over every layer blob, interleaved rounds: median wall and CPU seconds."""
    blobs = [path.read_bytes() for path in files]
    readers = _gzip_readers()
    wall: dict[str, list[float]] = {name: [] for name in readers}
    cpu: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, read in readers.items():
            started, used = time.perf_counter(), time.process_time()
            for blob in blobs:
                read(blob)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - used)
    print(f"\n{'gzip reader':<36}{'median s':>10}{'CPU s':>8}")
    for name in readers:
        print(f"{name:<36}{statistics.median(wall[name]):>10.2f}{statistics.median(cpu[name]):>8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--entries", type=int, default=600_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # Measured as a user runs regkit, with its bytecode cached: a machine that sets this (the
    # development VM does) compiles every changed module again at each start-up.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="rk-analysis-bench-", dir=os.environ.get("BENCH_DIR")) as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"generating {args.entries} entries in {args.layers} gzip layers ...", file=sys.stderr)
        layers, files = [], []
        for index in range(args.layers):
            tar = layer_tar(index, args.entries // args.layers)
            blob = ib.compress(tar, "gzip")
            layers.append((tar, "gzip"))
            files.append(scratch / f"layer{index}.tar.gz")
            files[-1].write_bytes(blob)
        image = ib.build_image(layers)
        del layers
        with RegistryServer(scratch / "registry") as server:
            ref = f"{server.host}/bench/many:v1"
            with regkit.Client(insecure=True) as client:
                push_image(client, regkit.resolve(ref), image)
            del image
            env = {"REGKIT_CACHE_DIR": str(scratch / "cache")}
            regkit_cli = [sys.executable, "-m", "regkit"]
            measure([*regkit_cli, "pull", ref, "--insecure-registry", "-o", str(scratch / "pulled.tar")], env)
            tar_all = ["sh", "-c", 'for f in "$@"; do tar -tvzf "$f"; done', "tar", *map(str, files)]
            analyze = [*regkit_cli, "analyze", ref, "--insecure-registry", "--json"]
            pull = [*regkit_cli, "pull", ref, "--insecure-registry", "-q", "-o", str(scratch / "again.tar")]
            runs = {
                "tar -tvzf": (tar_all, None),
                "regkit analyze (cold)": (analyze, "cold"),
                "regkit analyze (warm)": (analyze, "warm"),
                "analyze (warm, text)": (analyze[:-1], "warm"),
                "regkit pull": (pull, "empty"),
                "regkit pull --analyze": ([*pull, "--analyze"], "empty"),
                "python -c pass": ([sys.executable, "-c", "pass"], None),
                "regkit --help": ([*regkit_cli, "--help"], None),
            }
            load_before = os.getloadavg()
            results: dict[str, list[tuple[float, int]]] = {name: [] for name in runs}
            for round_number in range(args.rounds):
                print(f"round {round_number + 1} of {args.rounds} ...", file=sys.stderr)
                for name, (argv, cache) in runs.items():
                    if cache == "cold":  # the blobs stay; what an analysis keeps goes
                        shutil.rmtree(scratch / "cache" / "listings", ignore_errors=True)
                        shutil.rmtree(scratch / "cache" / "merged", ignore_errors=True)
                    run_env = env
                    if cache == "empty":
                        shutil.rmtree(scratch / "empty", ignore_errors=True)
                        run_env = {"REGKIT_CACHE_DIR": str(scratch / "empty")}
                    results[name].append(measure(argv, run_env))
            load_after = os.getloadavg()
            compare_readers(files, args.rounds)
    seconds = {name: statistics.median([s for s, _ in samples]) for name, samples in results.items()}
    rss = {name: max(r for _, r in samples) for name, samples in results.items()}
    print(f"\n{args.entries} entries in {args.layers} gzip layers, {args.rounds} interleaved rounds")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min), {os.cpu_count()} cores\n")
    print(f"{'command':<24}{'median s':>10}{'min-max':>16}{'peak RSS MiB':>14}")
    for name, samples in results.items():
        times = [s for s, _ in samples]
        print(f"{name:<24}{seconds[name]:>10.2f}{f'{min(times):.2f}-{max(times):.2f}':>16}{rss[name] / 1024:>14.0f}")
    floor = seconds["tar -tvzf"]
    print(f"\ncold analyze / tar -tvzf: {seconds['regkit analyze (cold)'] / floor:.2f}x (target <= 1.5x)")
    start_up = seconds["regkit --help"]
    print(f"warm analyze minus start-up: {seconds['regkit analyze (warm)'] - start_up:.2f} s (target <= 0.2 s)")
    pulled = seconds["regkit pull --analyze"] / seconds["regkit pull"]
    print(f"pull --analyze / pull: {pulled:.2f}x (target <= 1.3x)")
    cold_rss = rss["regkit analyze (cold)"]
    print(f"peak RSS: {cold_rss / 1024:.0f} MiB (target <= 150), {cold_rss * 1024 / args.entries:.0f} bytes per entry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
