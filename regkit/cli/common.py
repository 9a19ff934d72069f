"""What every registry-facing command shares: options, credentials, the client, and safe printing."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace

from ..errors import InvalidOption
from ..http.client import Client
from ..http.endpoints import Endpoints
from ..http.mirrors import Mirrors
from ..http.retry import RetryPolicy
from ..http.transport import DEFAULT_TIMEOUT

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


def mirrors_from_args(args: argparse.Namespace) -> Mirrors:
    """``--mirror`` (repeated), ``--mirror-only`` and ``--daemon-config`` as one :class:`Mirrors`."""
    if args.daemon_config and args.mirror:
        raise InvalidOption("give mirrors with --mirror or --daemon-config, not both")
    if args.daemon_config:
        return Mirrors.from_daemon_config(args.daemon_config, only=args.mirror_only)
    return Mirrors.create(args.mirror or [], only=args.mirror_only, insecure=args.insecure_registry)


def endpoints_from_args(args: argparse.Namespace) -> Endpoints:
    """The seed's environment variables, with the first mirror winning.

    A single ``--mirror`` applies to any reference, as it always did; several (or a daemon.json)
    apply to Docker Hub names alone, as the engine's ``registry-mirrors`` do.
    """
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
