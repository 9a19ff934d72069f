"""The ``regkit`` command line; exit codes: 0 ok, 1 registry/network/verification failure, 2 bad usage."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .analysis.cli import add_commands as add_analysis_commands
from .client import Client
from .cliutil import add_budget_options, add_registry_options, budgets_from_args, client_from_args, printable
from .diagnosis.cli import add_commands as add_diagnose_commands
from .errors import RegkitError
from .lab.cli import add_commands as add_lab_commands
from .redact import redact_text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regkit", description="See the Docker/OCI registry pull protocol, step by step."
    )
    parser.add_argument("--version", action="version", version=f"regkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    pull.add_argument("--cache-dir", help="keep verified blobs here and reuse them next time")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the output path")
    pull.add_argument(
        "--transcript",
        metavar="FILE",
        help="write every HTTP exchange (redacted) to FILE as a HAR 1.2 file, also when the pull fails",
    )
    pull.set_defaults(func=_pull)
    add_lab_commands(commands)
    add_analysis_commands(commands)
    add_diagnose_commands(commands)
    return parser


def _pull(args: argparse.Namespace) -> int:
    from .progress import BarProgress, Progress
    from .pull import pull

    client = client_from_args(args, pool_size=max(args.jobs, 4) * 2)
    try:
        with _ctrl_c_aborts(client):
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
    try:
        path.write_text(json.dumps(har, indent=1) + "\n")
    except OSError as exc:
        print(f"regkit: warning: cannot write the transcript {path}: {exc.strerror or exc}", file=sys.stderr)


def _report(error: RegkitError) -> None:
    print(f"regkit: error: {printable(error.message)}", file=sys.stderr)
    if error.hint:
        print(f"  hint: {printable(error.hint)}", file=sys.stderr)
    if error.exchange is not None:
        print(f"  request: {printable(error.exchange.summary())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RegkitError as error:
        _report(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("regkit: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"regkit: error: {printable(redact_text(str(error.strerror or error)))}{where}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug: still no traceback for the user, and no secret in the message
        if os.environ.get("REGKIT_DEBUG"):
            raise
        text = printable(redact_text(str(error)))[:300]
        print(f"regkit: internal error: {type(error).__name__}: {text} (REGKIT_DEBUG=1 shows where)", file=sys.stderr)
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
