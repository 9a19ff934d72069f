"""What every registry-facing command shares: options, credentials, the client, and safe printing."""

from __future__ import annotations

import argparse
import math
import re
import sys

from ..errors import InvalidOption
from ..http.client import MAX_TIMEOUT, Client
from ..http.endpoints import Endpoints
from ..http.retry import DEFAULT_MAX_WAIT, RetryPolicy
from ..http.speed import DEFAULT_MIN_SPEED, DEFAULT_SPEED_TIME, SpeedLimit
from ..http.transport import DEFAULT_TIMEOUT

# C0 and C1 controls except tab and newline: in registry data they could drive the terminal.
# Longer than any wait worth configuring; beyond it the socket layer overflows (1e20 s).
MAX_SECONDS = MAX_TIMEOUT
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` with control characters shown as ``\\xNN``: names and bodies from a registry are hostile."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def add_registry_options(parser: argparse.ArgumentParser, *, retries: bool = True) -> None:
    """``--mirror``, ``--insecure-registry``, ``-u/--password-stdin``, ``--timeout`` (and ``--retries``)."""
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="registry endpoint to use instead of the reference's host (a path prefix is allowed)",
    )
    parser.add_argument(
        "--insecure-registry",
        action="store_true",
        help="for the registry's host: HTTPS without certificate checks, falling back to plain HTTP",
    )
    parser.add_argument(
        "--ca-cert",
        action="append",
        metavar="FILE",
        help="also trust this CA certificate (PEM; repeatable), besides certs.d/<host>/ and the system store",
    )
    parser.add_argument("-u", "--username", help="user name for the registry's token service")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT[1],
        metavar="S",
        help=f"seconds a server may stay silent (default {DEFAULT_TIMEOUT[1]:g}; inf: no limit)",
    )
    parser.add_argument(
        "--min-speed",
        type=natural,
        default=DEFAULT_MIN_SPEED,
        metavar="BYTES/S",
        help=f"fail a blob download slower than this over --speed-time (default {DEFAULT_MIN_SPEED}; 0: off)",
    )
    parser.add_argument(
        "--speed-time",
        type=seconds,
        default=DEFAULT_SPEED_TIME,
        metavar="S",
        help=f"seconds a download may stay under --min-speed (default {DEFAULT_SPEED_TIME:g})",
    )
    if retries:
        parser.add_argument(
            "--retries", type=natural, default=3, metavar="N", help="retries after 5xx, 429 or a broken connection"
        )
        parser.add_argument(
            "--max-wait",
            type=seconds,
            default=DEFAULT_MAX_WAIT,
            metavar="S",
            help=f"seconds one request may wait for its retries in total, Retry-After included "
            f"(default {DEFAULT_MAX_WAIT:g})",
        )


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("nan is not a number of seconds")
    return value


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (at most :data:`MAX_SECONDS`)."""
    value = _number(text)
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0 and at most {MAX_SECONDS:g}")
    return value


def timeout_seconds(text: str) -> float | None:
    """Like :func:`seconds`, and ``inf`` for no timeout at all (None, as requests spells it)."""
    if _number(text) == math.inf:
        return None
    try:
        return seconds(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or inf for no limit") from None


def natural(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return value


def credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    """``-u USER --password-stdin`` as a pair; the password is read from standard input, never an argument."""
    if args.password_stdin and not args.username:
        raise InvalidOption("--password-stdin needs -u/--username")
    if not args.username:
        return None
    if not args.password_stdin:
        raise InvalidOption("give the password with --password-stdin (never on the command line)")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidOption("--password-stdin read an empty password")
    return args.username, password


def endpoints_from_args(args: argparse.Namespace) -> Endpoints:
    """The seed's environment variables, with ``--mirror`` winning."""
    if args.mirror is not None and not args.mirror.strip():
        # An empty value (an unset shell variable) must not quietly mean "no mirror": Docker Hub.
        raise InvalidOption("--mirror is empty; give the mirror's URL, or leave the option out")
    return Endpoints.from_env(mirror=args.mirror, insecure=args.insecure_registry)


def client_from_args(args: argparse.Namespace, *, pool_size: int = 8) -> Client:
    """A client configured by :func:`add_registry_options`' options."""
    retry = RetryPolicy(attempts=getattr(args, "retries", 3) + 1, max_wait=getattr(args, "max_wait", DEFAULT_MAX_WAIT))
    client = Client(
        endpoints=endpoints_from_args(args),
        insecure=args.insecure_registry,
        auth=credentials(args),
        timeout=(DEFAULT_TIMEOUT[0], args.timeout),
        retry=retry,
        pool_size=pool_size,
        speed_limit=SpeedLimit(args.min_speed, args.speed_time),
        ca_cert=args.ca_cert,
    )
    client.on_wait = lambda message: print(f"regkit: {printable(message)}", file=sys.stderr)
    return client
