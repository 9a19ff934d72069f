"""Pull throughput and memory: regkit against its peers, measured in the same run on the same lab.

    benchmarks/setup                      # once: skopeo (Debian), python-dxf and oras-py (PyPI)
    python benchmarks/pull_benchmark.py [--layers 5] [--layer-mib 80] [--rounds 5] [--sweep]

Starts the lab in open mode with a throughput image (busybox plus N layers of random data, gzip)
and a second one whose layers are twice as large, then runs every client once per round, in
interleaved rounds (so a noisy neighbour slows all of them alike), and prints the median wall
time, the spread (min-max), the ratios to the parallel and sequential curl floors, and peak RSS:

- ``curl -P3 floor``: curl fetching every blob straight from the CDN, 3 at a time, to /dev/null;
- ``curl sequential``: the same blobs one after another, to files;
- ``python floor``: benchmarks/python_floor.py, the least Python does for a verified pull into one
  file (http.client, SHA-256, pwrite at offsets, 3 at a time; no registry, no tar);
- ``regkit cold``: ``regkit pull`` into a docker-load tar with an empty blob cache (fills it);
- ``regkit --no-cache``: the same without the cache;
- ``regkit warm``: again with the cache full, the earlier output gone (the cache's pack of this very
  output becomes the new file: nothing is written); ``regkit warm, output kept``: the same while an
  earlier output still shares the pack, so the blobs are copied (``copy_file_range``); ``regkit warm,
  same output again``: a re-pull into that earlier output, which already is the image (left as it is);
- ``regkit 2x layers``: a cold pull of the image with layers twice as large (time and RSS scaling);
- ``python-dxf``, ``oras-py``: their own pulls of the blobs to files (benchmarks/peers.py);
- ``skopeo copy`` to a docker-archive, and ``docker pull`` (a private engine; also unpacks), when present;
- ``regkit analyze``: the layer analysis of the same image.

Then ``regkit --help`` start-up against ``python -c pass``, and with ``--sweep`` the ``--jobs`` and
read-chunk-size sweeps. Not a test: numbers depend on the machine; the ratios are what to compare.

Fairness: before every command the page cache's dirty pages are written out (``sync``), so no client
pays for the writeback of the one before it (on this VM, writing beyond ~800 MB dirty throttles to the
disk's speed). regkit's modules are byte-compiled first, as installing a wheel does: with
``PYTHONDONTWRITEBYTECODE`` set and an editable install, every run would compile them from source.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import regkit
from regkit.lab import Lab
from regkit.lab import imagebuild as ib
from regkit.lab.cdn import signed_url
from regkit.lab.images import noise
from regkit.lab.upload import push_image

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

# regkit pull with another read size (a benchmark-only knob: the size is iter_bytes' default).
_CHUNKED = """
import sys
from regkit.http.transport import HttpResponse
HttpResponse.iter_bytes.__defaults__ = (int(sys.argv[1]),)
from regkit.cli.main import main
sys.exit(main(sys.argv[2:]))
"""

Sample = tuple[float, int]  # wall seconds, peak RSS KiB (0: not measurable, a daemon did the work)


def measure(argv: list[str], env: dict[str, str] | None = None) -> Sample:
    """Wall seconds and peak RSS (KiB) of one command, which must succeed, started on a settled page cache."""
    settle()
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *argv], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    seconds, rss, status = done.stdout.split()
    if status != "0":
        raise SystemExit(f"{' '.join(argv)} failed with wait status {status}: {done.stderr[-2000:]}")
    return float(seconds), int(rss)


def size_options(parser: argparse.ArgumentParser) -> None:
    """``--layers`` and ``--layer-mib``: the throughput image both benchmarks use."""
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--layer-mib", type=int, default=80)


@contextmanager
def large_image(args: argparse.Namespace) -> Iterator[tuple[Path, Lab, str, regkit.ManifestResult]]:
    """A scratch directory, the lab in open mode with the throughput image, its reference and manifest."""
    with tempfile.TemporaryDirectory(prefix="rk-bench-", dir=os.environ.get("BENCH_DIR")) as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"building the lab with {args.layers} layers of {args.layer_mib} MiB ...", file=sys.stderr)
        with Lab(scratch / "lab", mode="open", large_layers=args.layers, large_layer_size=args.layer_mib << 20) as lab:
            ref = f"{lab.front_host}/library/large:latest"
            yield scratch, lab, ref, regkit.get_manifest(ref, client=regkit.Client(insecure=True))


def push_double(lab: Lab, layers: int, layer_size: int) -> str:
    """Push ``library/large2x``: ``layers`` layers of ``layer_size`` random bytes; its reference through the front."""
    image = ib.build_image(
        [(ib.tar_layer([ib.file(f"blob{i}.bin", noise(layer_size, 500 + i))]), "gzip") for i in range(layers)]
    )
    endpoints = regkit.Endpoints.create(auth=lab.token_url, insecure=True)
    with regkit.Client(endpoints=endpoints, insecure=True, auth=lab.credentials) as client:
        push_image(client, regkit.resolve(f"127.0.0.1:{lab.settings.registry}/library/large2x:latest"), image)
    return f"{lab.front_host}/library/large2x:latest"


def settle() -> None:
    """Write out dirty pages and wait until writeback is done: each command starts on a quiet disk."""
    os.sync()
    while dirty_kib() > 8 << 10:
        time.sleep(0.05)


def dirty_kib() -> int:
    """Dirty and under-writeback page cache, KiB (/proc/meminfo)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(fields["Dirty"].split()[0]) + int(fields["Writeback"].split()[0])


def run_rounds(tools: dict[str, Callable[[], Sample]], rounds: int) -> dict[str, list[Sample]]:
    """Every tool once per round, the order rotated each round."""
    samples: dict[str, list[Sample]] = {name: [] for name in tools}
    names = list(tools)
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(tools[name]())
    return samples


def report(samples: dict[str, list[Sample]], total: int, floors: tuple[str, str]) -> None:
    """The table: median, spread, ratios to both floors, peak RSS."""
    parallel = statistics.median(s[0] for s in samples[floors[0]])
    sequential = statistics.median(s[0] for s in samples[floors[1]])
    print("| client | median s | spread s | MiB/s | x curl -P3 | x curl seq | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, runs in samples.items():
        times = [s[0] for s in runs]
        median = statistics.median(times)
        rss = max(s[1] for s in runs)
        size = total * 2 if "2x" in name else total
        rss_text = f"{rss / 1024:.0f}" if rss else "n/a (daemon)"
        print(
            f"| {name} | {median:.2f} | {min(times):.2f}-{max(times):.2f} | {size / 2**20 / median:.0f} "
            f"| {median / parallel:.2f} | {median / sequential:.2f} | {rss_text} |"
        )


def startup(rounds: int) -> None:
    """``regkit --help`` against the interpreter's own start-up."""
    python = sys.executable
    runs: dict[str, list[Sample]] = {"python -c pass": [], "regkit --help": [], "regkit pull --help": []}
    for _ in range(rounds):
        runs["python -c pass"].append(measure([python, "-c", "pass"]))
        runs["regkit --help"].append(measure([python, "-m", "regkit", "--help"]))
        runs["regkit pull --help"].append(measure([python, "-m", "regkit", "pull", "--help"]))
    print("\n| start-up | median s | spread s |\n| --- | --- | --- |")
    for name, samples in runs.items():
        times = [s[0] for s in samples]
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f}-{max(times):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_options(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sweep", action="store_true", help="also sweep --jobs 1-8 and the read chunk size")
    parser.add_argument("--no-peers", action="store_true", help="only curl and regkit (quick look)")
    args = parser.parse_args()
    python = sys.executable
    regkit_cli = [python, "-m", "regkit"]
    compileall.compile_dir(Path(regkit.__file__).parent, quiet=1)  # as a wheel install does

    with large_image(args) as (scratch, lab, ref, manifest), ExitStack() as stack:
        print("pushing the image with layers twice as large ...", file=sys.stderr)
        double = push_double(lab, args.layers, 2 * args.layer_mib << 20)
        blobs = [manifest.config, *manifest.layers]
        total = sum(d.size for d in blobs)
        out = scratch / "out.tar"
        urls = scratch / "urls.txt"
        urls.write_text("".join(signed_url(lab.cdn_url, d.digest.hex, lab.settings.secret, 3600) + "\n" for d in blobs))
        host, _, rest = ref.partition("/")
        repository, _, tag = rest.partition(":")
        warm_cache, kept_cache = scratch / "warm-cache", scratch / "kept-cache"
        pull = [*regkit_cli, "pull", "-o", str(out), "--insecure-registry", "-q"]
        measure([*pull, ref], {"REGKIT_CACHE_DIR": str(warm_cache)})
        # kept.tar stays: it shares the kept cache's pack, so pulls from that cache copy the blobs
        kept = [*regkit_cli, "pull", "-o", str(scratch / "kept.tar"), "--insecure-registry", "-q", ref]
        measure(kept, {"REGKIT_CACHE_DIR": str(kept_cache)})

        def fresh(name: str) -> Path:
            """``scratch/name``, gone (a folder or a file)."""
            path = scratch / name
            shutil.rmtree(path, ignore_errors=True)
            path.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
            return path

        def regkit_pull(cache: Path | None, reference: str = ref) -> Sample:
            """``regkit pull`` with ``cache`` (None: ``--no-cache``); the output does not exist yet, as for
            every other client (replacing a synced 400 MB file costs ext4 ~0.4 s of freeing blocks)."""
            out.unlink(missing_ok=True)
            if cache is None:
                return measure([*pull, reference, "--no-cache"])
            return measure([*pull, reference], {"REGKIT_CACHE_DIR": str(cache)})

        def cold(reference: str) -> Sample:
            return regkit_pull(fresh("cold-cache"), reference)

        def curl_files() -> Sample:
            folder = fresh("curl")
            folder.mkdir()
            return measure(["sh", "-c", f"cd {folder} && xargs -n 1 curl -sf -O < {urls}"])

        tools: dict[str, Callable[[], Sample]] = {
            "curl -P3 floor (to /dev/null)": lambda: measure(
                ["sh", "-c", f"xargs -P 3 -n 1 curl -sf -o /dev/null < {urls}"]
            ),
            "curl sequential (to files)": curl_files,
            "regkit cold (empty cache)": lambda: cold(ref),
            "regkit --no-cache": lambda: regkit_pull(None),
            "python floor (hash + pwrite)": lambda: measure(
                [python, str(Path(__file__).with_name("python_floor.py")), str(urls), str(fresh("floor.bin"))]
            ),
            "regkit warm (cache full)": lambda: regkit_pull(warm_cache),
            "regkit warm, output kept": lambda: regkit_pull(kept_cache),
            "regkit warm, same output again": lambda: measure(kept, {"REGKIT_CACHE_DIR": str(kept_cache)}),
            "regkit 2x layers (cold)": lambda: cold(double),
            "regkit analyze": lambda: measure([*regkit_cli, "analyze", ref, "--insecure-registry", "--json"]),
        }
        if not args.no_peers:
            peers = str(Path(__file__).with_name("peers.py"))
            for tool, label in (("dxf", "python-dxf"), ("oras", "oras-py")):
                if importlib.util.find_spec(tool) is None:
                    print(f"{label} is not installed (benchmarks/setup installs it): left out", file=sys.stderr)
                    continue
                tools[f"{label} (to files)"] = lambda tool=tool: measure(
                    [python, peers, tool, host, repository, tag, str(fresh("peer"))]
                )
            if shutil.which("skopeo"):
                tools["skopeo copy (docker-archive)"] = lambda: measure(
                    ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                     f"docker-archive:{fresh('skopeo.tar')}:{ref}"]
                )  # fmt: skip
            if shutil.which("dockerd"):
                from regkit.lab.engine import DockerEngine

                engine = stack.enter_context(DockerEngine(scratch / "engine"))

                def docker_pull() -> Sample:
                    engine.run("rmi", "-f", ref, check=False)
                    settle()
                    start = time.perf_counter()
                    engine.run("pull", "-q", ref, timeout=600)
                    return time.perf_counter() - start, 0

                tools["docker pull (also unpacks)"] = docker_pull
        samples = run_rounds(tools, args.rounds)
        cpu = platform.processor() or platform.machine()
        print(
            f"\n{len(blobs)} blobs, {total / 2**20:.0f} MiB ({args.layers} layers of {args.layer_mib} MiB), "
            f"median of {args.rounds} interleaved rounds; {os.cpu_count()} CPUs ({cpu}), "
            f"load average {os.getloadavg()[0]:.1f} at the end\n"
        )
        report(samples, total, ("curl -P3 floor (to /dev/null)", "curl sequential (to files)"))
        startup(args.rounds * 2)
        if args.sweep:
            sweep(ref, pull, args.rounds, scratch)


def sweep(ref: str, pull: list[str], rounds: int, scratch: Path) -> None:
    """Cold pulls (no cache) with ``--jobs`` 1-8, then read sizes 256 KiB-8 MiB at the default jobs."""

    def run(argv: list[str]) -> Sample:
        (scratch / "out.tar").unlink(missing_ok=True)  # no run pays for freeing the one before
        return measure(argv)

    jobs: dict[str, Callable[[], Sample]] = {
        f"-j{n}": lambda n=n: run([*pull, ref, "--no-cache", "-j", str(n)]) for n in (1, 2, 3, 4, 6, 8)
    }
    chunked = [sys.executable, "-c", _CHUNKED]
    chunks: dict[str, Callable[[], Sample]] = {
        f"{size >> 10} KiB": lambda size=size: run([*chunked, str(size), *pull[3:], ref, "--no-cache"])
        for size in (256 << 10, 1 << 20, 4 << 20, 8 << 20)
    }
    for title, tools in (("jobs", jobs), ("read size", chunks)):
        samples = run_rounds(tools, rounds)
        print(f"\n| {title} | median s | spread s | peak RSS MiB |\n| --- | --- | --- | --- |")
        for name, runs in samples.items():
            times = [s[0] for s in runs]
            rss = max(s[1] for s in runs) / 1024
            print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f}-{max(times):.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
