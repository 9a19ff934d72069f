"""``regkit diagnose``, ``regkit ratelimit`` and ``regkit proxy-config``; heavy imports only when run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_registry_options, credentials, endpoints_from_args, printable, read_timeout

HUB_PROBE = "ratelimitpreview/test"  # the repository Docker documents for reading the limit


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the diagnosis commands."""
    diagnose = commands.add_parser("diagnose", help="find out why a pull through a proxy or mirror fails")
    diagnose.add_argument("reference", metavar="REF")
    add_registry_options(diagnose, retries=False)
    diagnose.add_argument("--head-only", action="store_true", help="stop after a manifest HEAD (spends no pull)")
    diagnose.set_defaults(func=_diagnose)
    limit = commands.add_parser("ratelimit", help="the pull budget the registry announces (HEAD: spends no pull)")
    limit.add_argument("reference", metavar="REF", nargs="?", default=HUB_PROBE)
    add_registry_options(limit, retries=False)
    limit.set_defaults(func=_ratelimit)
    config = commands.add_parser("proxy-config", help="write a reverse-proxy config that needs only --mirror")
    config.add_argument("kind", choices=("nginx",))
    config.add_argument("--listen", default="8080", help="port (or address:port) to listen on")
    config.add_argument("--registry-upstream", default="https://registry-1.docker.io")
    config.add_argument("--auth-upstream", default="https://auth.docker.io")
    config.add_argument("--blob-upstream", default="https://production.cloudflare.docker.com")
    config.add_argument("--full", action="store_true", help="a whole nginx.conf, not an include for http {}")
    config.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    config.set_defaults(func=_proxy_config)


def _settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "endpoints": endpoints_from_args(args),
        "insecure": args.insecure_registry,
        "auth": credentials(args),
        "timeout": read_timeout(args),
    }


def _diagnose(args: argparse.Namespace) -> int:
    from ..diagnosis.runner import diagnose

    result = diagnose(args.reference, fetch_config=not args.head_only, **_settings(args))  # type: ignore[arg-type]
    print(printable(result))
    return 0 if result.ok else 1


def _ratelimit(args: argparse.Namespace) -> int:
    from ..diagnosis.runner import rate_limit

    limit, _ = rate_limit(args.reference, **_settings(args))  # type: ignore[arg-type]
    print(limit or "no rate-limit headers: no limit applies here (or a mirror hides them)")
    return 0


def _proxy_config(args: argparse.Namespace) -> int:
    from ..diagnosis.proxyconfig import ProxyUpstreams, nginx_config

    upstreams = ProxyUpstreams.create(args.registry_upstream, args.auth_upstream, args.blob_upstream, args.listen)
    text = nginx_config(upstreams, full=args.full)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
