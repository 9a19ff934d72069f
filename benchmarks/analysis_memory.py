"""Peak memory of layer analysis: it must stay flat however large the layers are.

    python benchmarks/analysis_memory.py [--layers 4] [--layer-mib 64] [--limit-mib 150]

Starts the lab in open mode with the throughput image (busybox plus N layers of random data,
gzip), then runs ``regkit analyze --json`` and ``regkit export`` on it, each in a child process
measured by a small runner (``os.wait4``; see ``pull_benchmark.measure``), and prints the wall
time and peak RSS of each. Exits 1 when a peak exceeds the limit. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import sys

from pull_benchmark import large_image, measure, size_options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_options(parser)
    parser.add_argument("--limit-mib", type=int, default=150)
    args = parser.parse_args()

    with large_image(args) as (scratch, _, ref, manifest):
        compressed = sum(layer.size for layer in manifest.layers)
        regkit_cli = [sys.executable, "-m", "regkit"]
        runs = {
            "regkit analyze": [*regkit_cli, "analyze", ref, "--insecure-registry", "--json"],
            "regkit export": [*regkit_cli, "export", ref, str(scratch / "rootfs"), "--insecure-registry"],
        }
        print(f"\n{len(manifest.layers)} layers, {compressed / 2**20:.0f} MiB compressed\n")
        print(f"{'command':<18}{'seconds':>9}{'MiB/s':>9}{'peak RSS MiB':>14}")
        worst = 0
        for name, argv in runs.items():
            seconds, rss = measure(argv)
            worst = max(worst, rss)
            print(f"{name:<18}{seconds:>9.2f}{compressed / 2**20 / seconds:>9.0f}{rss / 1024:>14.0f}")
    if worst / 1024 > args.limit_mib:
        print(f"peak RSS {worst / 1024:.0f} MiB is above the {args.limit_mib} MiB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
