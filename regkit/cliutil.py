"""What every registry-facing command shares: options, credentials, the client, and safe printing."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import fields

from .budgets import OPTIONS, Budgets
from .client import Client
from .endpoints import Endpoints
from .errors import InvalidOption
from .retry import RetryPolicy
from .transport import DEFAULT_TIMEOUT

# C0 and C1 controls except tab and newline: in registry data they could drive the terminal.
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
    """``--max-layer-bytes`` and the other budgets of :class:`~regkit.budgets.Budgets` (``only`` some of them)."""
    defaults = Budgets()
    for field in fields(Budgets):
        if only is not None and field.name not in only:
            continue
        unit = "bytes" if field.name.endswith("bytes") else "entries"
        parser.add_argument(
            OPTIONS[field.name],
            dest=f"budget_{field.name}",
            type=byte_count if unit == "bytes" else _count,
            metavar="N",
            help=f"budget: refuse past N {field.name.replace('_', ' ')} (default {getattr(defaults, field.name)})",
        )


def budgets_from_args(args: argparse.Namespace) -> Budgets:
    """The budgets given by :func:`add_budget_options`' options, the defaults for the rest."""
    given = {f.name: getattr(args, f"budget_{f.name}", None) for f in fields(Budgets)}
    return Budgets(**{name: value for name, value in given.items() if value is not None})


def add_registry_options(parser: argparse.ArgumentParser, *, retries: bool = True) -> None:
    """``--mirror``, ``--insecure-registry``, ``-u/--password-stdin``, ``--timeout`` (and ``--retries``)."""
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="registry endpoint to use instead of the reference's host (a path prefix is allowed)",
    )
    parser.add_argument("--insecure-registry", action="store_true", help="allow plain HTTP and unverified TLS")
    parser.add_argument("-u", "--username", help="user name for the registry's token service")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT[1], metavar="S", help="seconds a server may stay silent"
    )
    if retries:
        parser.add_argument(
            "--retries", type=int, default=3, metavar="N", help="retries after 5xx, 429 or a broken connection"
        )


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
    return Endpoints.from_env(mirror=args.mirror, insecure=args.insecure_registry)


def client_from_args(args: argparse.Namespace, *, pool_size: int = 8) -> Client:
    """A client configured by :func:`add_registry_options`' options."""
    retries = getattr(args, "retries", 3)
    if args.timeout <= 0 or retries < 0:
        raise InvalidOption("--timeout must be positive and --retries at least 0")
    return Client(
        endpoints=endpoints_from_args(args),
        insecure=args.insecure_registry,
        auth=credentials(args),
        timeout=(DEFAULT_TIMEOUT[0], args.timeout),
        retry=RetryPolicy(attempts=retries + 1),
        pool_size=pool_size,
    )
