"""``regkit pull``: the whole pull into a tar that ``docker load`` accepts, with Ctrl-C that cleans up."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RegkitError
from .common import add_registry_options, client_from_args

if TYPE_CHECKING:
    from ..http.client import Client


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
    pull.add_argument("-j", "--jobs", type=int, default=3, help="concurrent blob downloads (default 3, like dockerd)")
    pull.add_argument(
        "--cache-dir", help="blob cache to use (default: $REGKIT_CACHE_DIR, $XDG_CACHE_HOME/regkit or ~/.cache/regkit)"
    )
    pull.add_argument("--no-cache", action="store_true", help="neither use nor fill the blob cache")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the output path")
    pull.add_argument(
        "--transcript",
        metavar="FILE",
        help="write every HTTP exchange (redacted) to FILE as a HAR 1.2 file, also when the pull fails",
    )
    pull.set_defaults(func=_pull)


def _pull(args: argparse.Namespace) -> int:
    from ..steps.progress import BarProgress, Progress
    from ..steps.pull import pull

    client = client_from_args(args, pool_size=max(args.jobs, 4) * 2)
    try:
        with _ctrl_c_aborts(client):
            result = pull(
                args.reference,
                args.output,
                platform=args.platform,
                format=args.format,
                layer_format=args.layer_format,
                jobs=args.jobs,
                client=client,
                cache_dir=args.cache_dir,
                cache=not args.no_cache,
                progress=Progress() if args.quiet else BarProgress(),
            )
    finally:
        if args.transcript:  # after a failure too: the exchanges that led to it are what to look at
            _write_transcript(Path(args.transcript), client.transcript.to_har(f"regkit pull {args.reference}"))
    proxies = sorted({e.proxy for e in result.exchanges if e.proxy})
    if args.quiet:
        print(result.image.path)
    else:
        if proxies:
            print(f"requests went through HTTP proxy {', '.join(proxies)} (from the environment)", file=sys.stderr)
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
    return 0


@contextmanager
def _ctrl_c_aborts(client: Client) -> Iterator[None]:
    """The first Ctrl-C aborts the client's downloads so the pull unwinds and cleans up; a second one quits.

    A KeyboardInterrupt raised at an arbitrary point could leave a lock of the download pool held
    (and the pool waiting forever); aborting the network instead lets every thread end normally.
    """
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        client.abort()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    except RegkitError:
        if interrupted.is_set():
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_transcript(path: Path, har: dict[str, object]) -> None:
    """Write the HAR; a failure here is reported but never hides the pull's own outcome."""
    import json

    try:
        path.write_text(json.dumps(har, indent=1) + "\n")
    except OSError as exc:
        print(f"regkit: warning: cannot write the transcript {path}: {exc.strerror or exc}", file=sys.stderr)
