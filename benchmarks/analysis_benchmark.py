"""Layer analysis against GNU tar: the same layers listed, measured in interleaved rounds of one run.

    python benchmarks/analysis_benchmark.py [--layers 8] [--entries 600000] [--rounds 3]

Generates an image of many small files (``--entries`` in all, spread over ``--layers`` gzip
layers; never committed as data), pushes it to Debian's docker-registry, pulls it once so its
blobs are in a fresh regkit blob cache, then per round runs, each in a child process measured by
``pull_benchmark.measure`` (wall time, peak RSS):

- ``tar -tvzf``: GNU tar listing the layer blobs one after another (the C floor);
- ``regkit analyze (cold)``: ``regkit analyze --json`` with the blobs local and no analysis cached;
- ``regkit analyze (warm)``: the same again, every layer's listing read back from the cache;
- ``python -c pass``, ``regkit --help``: the start-up the warm run includes.

Prints medians, the ratios the README reports, the load average before and after (the machine is
shared), and the per-entry memory the peak RSS works out to. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
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


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--entries", type=int, default=600_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
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
            runs = {
                "tar -tvzf": (tar_all, None),
                "regkit analyze (cold)": (analyze, "cold"),
                "regkit analyze (warm)": (analyze, "warm"),
                "python -c pass": ([sys.executable, "-c", "pass"], None),
                "regkit --help": ([*regkit_cli, "--help"], None),
            }
            load_before = os.getloadavg()
            results: dict[str, list[tuple[float, int]]] = {name: [] for name in runs}
            for round_number in range(args.rounds):
                print(f"round {round_number + 1} of {args.rounds} ...", file=sys.stderr)
                for name, (argv, cache) in runs.items():
                    if cache == "cold":
                        shutil.rmtree(scratch / "cache" / "analysis", ignore_errors=True)
                    results[name].append(measure(argv, env))
            load_after = os.getloadavg()
    seconds = {name: median([s for s, _ in samples]) for name, samples in results.items()}
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
    cold_rss = rss["regkit analyze (cold)"]
    print(f"peak RSS: {cold_rss / 1024:.0f} MiB (target <= 150), {cold_rss * 1024 / args.entries:.0f} bytes per entry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
