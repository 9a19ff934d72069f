"""``regkit pull``: the whole pull into a tar that ``docker load`` accepts; Ctrl-C, SIGTERM, SIGHUP clean up."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidOption
from .common import add_budget_options, add_registry_options, budgets_from_args, client_from_args, mirrors_from_args
from .signals import signals_abort

if TYPE_CHECKING:
    from ..http.client import Client
    from ..steps.pull import PullResult


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``pull``."""
    pull = commands.add_parser("pull", help="pull an image into a tar that docker load accepts")
    pull.add_argument(
        "reference", metavar="REF", help="image reference, e.g. alpine or 127.0.0.1:5000/library/busybox:latest"
    )
    pull.add_argument("-o", "--output", help="output file (default: NAME_TAG.tar in the current directory)")
    pull.add_argument("--platform", help="os/arch[/variant] to pick from a multi-platform image (default: this host)")
    pull.add_argument(
        "--format",
        choices=("docker", "oci"),
        default="docker",
        help="docker load tar, or OCI layout (a directory unless -o ends in .tar)",
    )
    pull.add_argument(
        "--layer-format",
        choices=("auto", "keep", "gzip", "tar"),
        default="auto",
        help="layer compression in the output; auto turns zstd into tar for old engines (default)",
    )
    add_registry_options(pull)
    add_budget_options(pull, only=("layer_bytes", "image_bytes"))  # what converting a layer decompresses
    pull.add_argument("-j", "--jobs", type=int, default=3, help="concurrent blob downloads (default 3, like dockerd)")
    pull.add_argument(
        "--cache-dir",
        help="blob cache to use, a usage error if it cannot be (default: $REGKIT_CACHE_DIR, $XDG_CACHE_HOME/regkit"
        " or ~/.cache/regkit, pulling without a cache and a warning if that cannot be used)",
    )
    pull.add_argument("--no-cache", action="store_true", help="neither use nor fill the blob cache")
    pull.add_argument(
        "--analyze",
        action="store_true",
        help="then analyze the image from the blob cache (no second download): waste, efficiency, largest files",
    )
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the output path")
    pull.add_argument(
        "--transcript",
        metavar="FILE",
        help="write every HTTP exchange (redacted) to FILE as a HAR 1.2 file, also when the pull fails",
    )
    pull.add_argument(
        "--trace",
        action="store_true",
        help="print the pull as a sequence diagram (client, registry, token service, CDN) to stderr, also on failure",
    )
    pull.set_defaults(func=_pull)


def _pull(args: argparse.Namespace) -> int:
    from ..http.mirrors import attempts
    from ..steps.progress import BarProgress, Progress
    from ..steps.pull import pull

    if args.analyze and args.no_cache:
        raise InvalidOption(
            "--analyze reads the pulled layers from the blob cache, which --no-cache turns off",
            hint="drop --no-cache (or run regkit analyze, which downloads the layers again)",
        )
    client = client_from_args(args, pool_size=max(args.jobs, 4) * 2)
    mirrors = mirrors_from_args(args)
    try:
        with signals_abort(client):
            result = pull(
                args.reference,
                args.output,
                platform=args.platform,
                format=args.format,
                layer_format=args.layer_format,
                budgets=budgets_from_args(args),
                jobs=args.jobs,
                client=client,
                cache_dir=args.cache_dir,
                cache=not args.no_cache,
                progress=Progress() if args.quiet else BarProgress(),
                mirrors=mirrors,
            )
    finally:
        if args.transcript:  # after a failure too: the exchanges that led to it are what to look at
            _write_transcript(Path(args.transcript), client.transcript.to_har(f"regkit pull {args.reference}"))
        if args.trace:
            from ..display.sequence import sequence

            print(sequence(client.transcript, f"regkit pull {args.reference}"), file=sys.stderr)
    proxies = sorted({e.proxy for e in result.exchanges if e.proxy})
    if args.quiet:
        print(result.image.path)
    else:
        if proxies:
            print(f"requests went through HTTP proxy {', '.join(proxies)} (from the environment)", file=sys.stderr)
        for attempt in attempts(result.exchanges):
            print(attempt, file=sys.stderr)
        before, after = result.rate_limit
        if before and after:
            print(f"pull budget: before {before}; after {after}", file=sys.stderr)
        image = result.image
        print(
            f"wrote {image.path} ({image.format}): image {image.image_id}, "
            f"tags {', '.join(image.repo_tags) or 'none'}, "
            f"{result.downloaded_bytes} bytes in {result.seconds:.1f} s over {len(result.exchanges)} requests",
            file=sys.stderr,
        )
        if result.cached_blobs:
            cached = result.cached_blobs
            print(
                f"from the cache: {len(cached)} of {len(result.blobs)} blobs ({sum(b.size for b in cached)} bytes)",
                file=sys.stderr,
            )
    if args.analyze:
        _analyze_pulled(args, client, result)
    return 0


def _analyze_pulled(args: argparse.Namespace, client: Client, result: PullResult) -> None:
    """The analysis of the image just pulled, by digest: its blobs are in the cache, so nothing is downloaded again."""
    from ..analysis.image import analyze
    from .analysis import print_analysis

    pinned = result.reference.with_digest(result.manifest.digest)
    with signals_abort(client):
        analysis = analyze(pinned, cache_dir=args.cache_dir, budgets=budgets_from_args(args), client=client)
    print_analysis(analysis, 10)


def _write_transcript(path: Path, har: dict[str, object]) -> None:
    """Write the HAR; a failure here is reported but never hides the pull's own outcome."""
    import json

    try:
        path.write_text(json.dumps(har, indent=1) + "\n")
    except OSError as exc:
        print(f"regkit: warning: cannot write the transcript {path}: {exc.strerror or exc}", file=sys.stderr)
