"""What every registry-facing command shares: options, credentials, the client, and safe printing."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from ..errors import InvalidOption

if TYPE_CHECKING:  # imported when a command runs: listing the commands must not load requests
    from ..http.client import Client
    from ..http.endpoints import Endpoints

# C0 and C1 controls except tab and newline: in registry data they could drive the terminal.
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
    parser.add_argument("--insecure-registry", action="store_true", help="allow plain HTTP and unverified TLS")
    parser.add_argument("-u", "--username", help="user name for the registry's token service")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds a server may stay silent (default: 60)")
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
    from ..http.endpoints import Endpoints

    return Endpoints.from_env(mirror=args.mirror, insecure=args.insecure_registry)


def read_timeout(args: argparse.Namespace) -> float:
    """``--timeout``, or the client's default read timeout."""
    from ..http.transport import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT[1] if args.timeout is None else float(args.timeout)


def client_from_args(args: argparse.Namespace, *, pool_size: int = 8) -> Client:
    """A client configured by :func:`add_registry_options`' options."""
    from ..http.client import Client
    from ..http.retry import RetryPolicy
    from ..http.transport import DEFAULT_TIMEOUT

    retries = getattr(args, "retries", 3)
    timeout = read_timeout(args)
    if timeout <= 0 or retries < 0:
        raise InvalidOption("--timeout must be positive and --retries at least 0")
    return Client(
        endpoints=endpoints_from_args(args),
        insecure=args.insecure_registry,
        auth=credentials(args),
        timeout=(DEFAULT_TIMEOUT[0], timeout),
        retry=RetryPolicy(attempts=retries + 1),
        pool_size=pool_size,
    )
