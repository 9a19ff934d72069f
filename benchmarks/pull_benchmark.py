"""Pull throughput and memory: regkit against its peers, measured in the same run on the same lab.

    python benchmarks/pull_benchmark.py [--layers 4] [--layer-mib 64] [--runs 3]

Starts the lab in open mode with a throughput image (busybox plus N layers of random data), then
times, for each tool, a whole pull of that image into a tar (or, for docker, into the engine):

- ``floor``: curl fetching every blob straight from the CDN, 3 at a time, to /dev/null;
- ``regkit -j3`` / ``regkit -j1``: ``regkit pull`` into a docker-load tar;
- ``skopeo``: ``skopeo copy docker://… docker-archive:…`` (Debian's skopeo, if installed);
- ``docker pull``: the private engine pulling and extracting (does more: unpacks to vfs).

It prints the median wall time, throughput, the ratio to the floor and the peak RSS of each.
Not a test: numbers depend on the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import regkit
from regkit.lab import Lab
from regkit.lab.cdn import signed_url
from regkit.lab.engine import DockerEngine

# A small process measures the command: a child's peak RSS includes the pages of whoever forked or
# spawned it (Linux records the old address space's peak at exec), and this process is large.
_RUNNER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, status)
"""


def measure(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, which must succeed."""
    done = subprocess.run([sys.executable, "-c", _RUNNER, *argv], capture_output=True, text=True, check=True)
    seconds, rss, status = done.stdout.split()
    if status != "0":
        raise SystemExit(f"{' '.join(argv)} failed with wait status {status}: {done.stderr[-2000:]}")
    return float(seconds), int(rss)


def size_options(parser: argparse.ArgumentParser) -> None:
    """``--layers`` and ``--layer-mib``: the throughput image both benchmarks use."""
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=64)


@contextmanager
def large_image(args: argparse.Namespace) -> Iterator[tuple[Path, Lab, str, regkit.ManifestResult]]:
    """A scratch directory, the lab in open mode with the throughput image, its reference and manifest."""
    with tempfile.TemporaryDirectory(prefix="rk-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"building the lab with {args.layers} layers of {args.layer_mib} MiB ...", file=sys.stderr)
        with Lab(scratch / "lab", mode="open", large_layers=args.layers, large_layer_size=args.layer_mib << 20) as lab:
            ref = f"{lab.front_host}/library/large:latest"
            yield scratch, lab, ref, regkit.get_manifest(ref, client=regkit.Client(insecure=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_options(parser)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with large_image(args) as (scratch, lab, ref, manifest):
        blobs = [manifest.config, *manifest.layers]
        total = sum(d.size for d in blobs)
        out = scratch / "out.tar"
        urls = scratch / "urls.txt"
        urls.write_text("".join(signed_url(lab.cdn_url, d.digest.hex, lab.settings.secret, 3600) + "\n" for d in blobs))
        python = sys.executable
        tools: dict[str, Callable[[], tuple[float, int]]] = {
            "floor (curl -P3)": lambda: measure(["sh", "-c", f"xargs -P 3 -n 1 curl -sf -o /dev/null < {urls}"]),
            "regkit -j3": lambda: measure(
                [python, "-m", "regkit", "pull", ref, "-o", str(out), "--insecure-registry", "-q"]
            ),
            "regkit -j1": lambda: measure(
                [python, "-m", "regkit", "pull", ref, "-o", str(out), "--insecure-registry", "-q", "-j", "1"]
            ),
        }
        if shutil.which("skopeo"):
            tools["skopeo copy"] = lambda: measure(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--src-tls-verify=false",
                    f"docker://{ref}",
                    f"docker-archive:{out}:{ref}",
                ]
            )
        with DockerEngine(scratch / "engine") as engine:

            def docker_pull() -> tuple[float, int]:
                engine.run("rmi", "-f", ref, check=False)
                start = time.perf_counter()
                engine.run("pull", "-q", ref, timeout=600)
                return time.perf_counter() - start, 0

            tools["docker pull (extracts)"] = docker_pull
            results = {}
            for name, run in tools.items():
                samples = []
                for _ in range(args.runs):
                    out.unlink(missing_ok=True)
                    samples.append(run())
                results[name] = (statistics.median(s[0] for s in samples), max(s[1] for s in samples))
        floor = results["floor (curl -P3)"][0]
        print(f"\n{len(blobs)} blobs, {total / 2**20:.0f} MiB, median of {args.runs} runs\n")
        print(f"{'tool':<24}{'seconds':>9}{'MiB/s':>9}{'x floor':>9}{'peak RSS MiB':>14}")
        for name, (seconds, rss) in results.items():
            rss_text = f"{rss / 1024:.0f}" if rss else "n/a (daemon)"
            print(f"{name:<24}{seconds:>9.2f}{total / 2**20 / seconds:>9.0f}{seconds / floor:>9.2f}{rss_text:>14}")


if __name__ == "__main__":
    main()
