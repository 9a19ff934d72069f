"""What every registry-facing command shares: options, credentials, the client, and safe printing."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InvalidOption
from ..http.timeouts import DEFAULT_MAX_WAIT, DEFAULT_MIN_SPEED, DEFAULT_SPEED_TIME, DEFAULT_TIMEOUT, MAX_TIMEOUT
from ..oci.budget_options import DEFAULTS as BUDGET_DEFAULTS
from ..oci.budget_options import OPTIONS as BUDGET_OPTIONS

# Building the parsers (every group's, for ``regkit --help``) reads only constants from light modules; what
# a command needs to run (requests, dataclasses, email) is imported in the function that runs it.
if TYPE_CHECKING:
    from ..http.client import Client
    from ..http.endpoints import Endpoints
    from ..http.mirrors import Mirrors
    from ..oci.budgets import Budgets

# C0 and C1 controls except tab and newline: in registry data they could drive the terminal.
MAX_SECONDS = MAX_TIMEOUT  # the client's bound for every number of seconds given here
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", re.IGNORECASE)


def printable(text: object) -> str:
    """``text`` with control characters shown as ``\\xNN``: names and bodies from a registry are hostile."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def byte_count(text: str) -> int:
    """``1000``, ``20MB`` (10**6) or ``5MiB`` (2**20) as bytes."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a byte count such as 1000, 20MB or 5MiB")
    number, prefix, binary = match.groups()
    power = "kmgt".find(prefix.lower()) + 1 if prefix else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def _count(text: str) -> int:
    """A whole number of entries of at least 1 (``2M`` or ``2Mi`` allowed)."""
    value = byte_count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_budget_options(parser: argparse.ArgumentParser, *, only: tuple[str, ...] | None = None) -> None:
    """``--max-layer-bytes`` and the other budgets of :class:`~regkit.oci.budgets.Budgets` (``only`` some of them)."""
    for name, default in BUDGET_DEFAULTS.items():
        if only is not None and name not in only:
            continue
        parser.add_argument(
            BUDGET_OPTIONS[name],
            dest=f"budget_{name}",
            type=byte_count if name.endswith("bytes") else _count,
            metavar="N",
            help=f"budget: refuse past N {name.replace('_', ' ')} (default {default})",
        )


def budgets_from_args(args: argparse.Namespace) -> Budgets:
    """The budgets given by :func:`add_budget_options`' options, the defaults for the rest."""
    from ..oci.budgets import Budgets  # a dataclass: not for building the parsers

    given = {name: getattr(args, f"budget_{name}", None) for name in BUDGET_DEFAULTS}
    return Budgets(**{name: value for name, value in given.items() if value is not None})


def add_registry_options(parser: argparse.ArgumentParser, *, retries: bool = True) -> None:
    """``--mirror``, ``--insecure-registry``, ``-u/--password-stdin``, ``--timeout`` (and ``--retries``)."""
    parser.add_argument(
        "--mirror",
        metavar="URL",
        action="append",
        help="registry endpoint to use instead of the reference's host (a path prefix is allowed); repeat it "
        "for Docker Hub mirrors tried in order, then Docker Hub itself, like the engine's registry-mirrors",
    )
    parser.add_argument(
        "--mirror-only", action="store_true", help="never fall back from the mirrors to the registry itself"
    )
    parser.add_argument(
        "--daemon-config",
        metavar="FILE",
        help="read registry-mirrors and insecure-registries from a Docker daemon.json instead",
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


def mirrors_from_args(args: argparse.Namespace) -> Mirrors:
    """``--mirror`` (repeated), ``--mirror-only`` and ``--daemon-config`` as one :class:`Mirrors`."""
    if any(not url.strip() for url in args.mirror or []):
        # An empty value (an unset shell variable) must not quietly mean "no mirror": Docker Hub.
        raise InvalidOption("--mirror is empty; give the mirror's URL, or leave the option out")
    if args.daemon_config and args.mirror:
        raise InvalidOption("give mirrors with --mirror or --daemon-config, not both")
    from ..http.mirrors import Mirrors

    if args.daemon_config:
        return Mirrors.from_daemon_config(args.daemon_config, only=args.mirror_only)
    return Mirrors.create(args.mirror or [], only=args.mirror_only, insecure=args.insecure_registry)


def endpoints_from_args(args: argparse.Namespace) -> Endpoints:
    """The seed's environment variables, with the first mirror winning.

    A single ``--mirror`` applies to any reference, as it always did; several (or a daemon.json)
    apply to Docker Hub names alone, as the engine's ``registry-mirrors`` do.
    """
    from dataclasses import replace

    from ..http.endpoints import Endpoints

    mirrors = mirrors_from_args(args)
    if len(mirrors.urls) == 1 and not args.daemon_config:
        return Endpoints.from_env(mirror=mirrors.urls[0], insecure=args.insecure_registry)
    endpoints = Endpoints.from_env(insecure=args.insecure_registry)
    if not mirrors.urls:
        return endpoints
    # Not marked insecure here even when insecure-registries names it: that is per route (see Mirrors.routes),
    # so the fallback to Docker Hub keeps verifying TLS.
    return replace(endpoints, registry=mirrors.urls[0], hub_only=True)


def client_from_args(args: argparse.Namespace, *, pool_size: int = 8) -> Client:
    """A client configured by :func:`add_registry_options`' options."""
    from ..http.client import Client
    from ..http.retry import RetryPolicy
    from ..http.speed import SpeedLimit

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


def print_json(data: object) -> None:
    """``data`` as JSON on stdout: indented, or for a large document its top level only."""
    import json  # only --json needs it; every command's parser (regkit --help) loads this module

    # The C encoder, value by value; with indent= json encodes in Python, about 10x slower, which
    # is felt from a few MB on (an analysis of 600,000 files prints 11 MB).
    fields = [(json.dumps(key), json.dumps(value)) for key, value in data.items()] if isinstance(data, dict) else []
    if sum(len(value) for _, value in fields) <= _INDENTED:
        print(json.dumps(data, indent=2))
        return
    sys.stdout.write("{")
    for number, (key, value) in enumerate(fields):
        sys.stdout.write(f"{',' if number else ''}\n  {key}: ")
        sys.stdout.write(value)
    sys.stdout.write("\n}\n")


_INDENTED = 1 << 20  # characters of JSON indented in full


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell; numbers right-aligned, the last column left as is."""
    # Paths, link targets and build steps come from the registry: no control character reaches the terminal.
    cells = [[str(c) for c in header], *([printable(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [bool(rows) and all(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]
    for row in cells:
        padded = [
            cell if i == len(row) - 1 else cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(padded).rstrip())
