"""``regkit lab up | down | status | demo``; the lab itself is imported only when a command runs."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..lab.modes import DIALECT_NAMES, MODES


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``lab`` and its subcommands."""
    lab = commands.add_parser("lab", help="a Docker-Hub-shaped registry on this machine, for offline lessons and tests")
    lab.add_argument("--dir", type=Path, help="state directory (default: $REGKIT_LAB_DIR or ~/.local/state/regkit/lab)")
    actions = lab.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the lab and push the sample images")
    up.add_argument(
        "--mode", choices=MODES, default="hub", help="hub: realm and CDN reachable only through the proxy (default)"
    )
    up.add_argument(
        "--dialect",
        choices=DIALECT_NAMES,
        default="hub",
        help="which registry the lab speaks like (default: hub, Docker Hub); see: regkit lab dialects",
    )
    up.add_argument("--json", action="store_true", help="print the lab's registry, images and credentials as JSON")
    up.add_argument(
        "--large", type=int, default=0, metavar="N", help="also push a throughput image of N layers of 32 MiB"
    )
    up.add_argument(
        "--proxy-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every request through the seed proxy arrives this much later, as at a distant proxy",
    )
    up.add_argument(
        "--cdn-rate", type=int, default=0, metavar="BYTES", help="the CDN sends at most BYTES per second per connection"
    )
    up.add_argument(
        "--pull-through",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also start the pull-through cache, a registry in proxy mode (default: yes)",
    )
    up.set_defaults(func=_up)
    actions.add_parser("down", help="stop the lab's processes").set_defaults(func=_down)
    actions.add_parser("dialects", help="the registry dialects the lab speaks, one a line").set_defaults(func=_dialects)
    actions.add_parser("status", help="what runs where, and commands to try").set_defaults(func=_status)
    demo = actions.add_parser(
        "demo", help="the main job: lab up, pull through the seed proxy, docker load, run, lab down"
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("busybox_latest.tar"), help="where the pulled tar goes")
    demo.set_defaults(func=_demo)


def _up(args: argparse.Namespace) -> int:
    from ..lab.lab import Lab

    if args.dialect == "hub":
        lab = Lab(
            args.dir,
            dialect="hub",
            mode=args.mode,
            large_layers=args.large,
            proxy_delay=args.proxy_delay,
            cdn_rate=args.cdn_rate,
            pull_through=args.pull_through,
        ).up()
    else:
        hub_only = {"--mode": args.mode != "hub", "--large": args.large, "--proxy-delay": args.proxy_delay}
        hub_only["--cdn-rate"] = args.cdn_rate
        given = [option for option, value in hub_only.items() if value]
        if given:
            raise UsageError(f"{', '.join(given)}: for the hub lab only, not for --dialect {args.dialect}")
        lab = Lab(args.dir, dialect=args.dialect).up()
    if args.json:
        import json

        print(json.dumps(lab.summary(), indent=2))
    else:
        print(lab.describe())
    return 0


def _dialects(args: argparse.Namespace) -> int:
    from ..lab.dialects import DIALECTS

    for spec in DIALECTS.values():
        print(spec.summary())
    return 0


def _down(args: argparse.Namespace) -> int:
    from ..lab.lab import Lab

    Lab(args.dir).down()
    print("lab stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..lab.lab import Lab

    lab = Lab(args.dir)
    print(lab.describe())
    return 0 if all(lab.running().values()) else 1


def _demo(args: argparse.Namespace) -> int:
    """Do what the seed describes, offline: a pull through the three proxies into a tar that loads."""
    from ..http.endpoints import Endpoints
    from ..lab.engine import DockerEngine
    from ..lab.lab import Lab
    from ..steps.progress import BarProgress
    from ..steps.pull import pull

    with tempfile.TemporaryDirectory(prefix="rk-demo-") as scratch:
        say("starting the lab in hub mode (realm and CDN reachable only through the seed's proxy)")
        with Lab(Path(scratch) / "lab", mode="hub") as lab:
            env = lab.proxy_env()
            mirror = f"{lab.proxy_url}/docker-registry"
            shown = " ".join(f"{k}={v}" for k, v in env.items())
            say(f"pulling: {shown} regkit pull busybox --mirror={mirror} --insecure-registry -o {args.output}")
            endpoints = Endpoints.from_env(env, mirror=mirror, insecure=True)
            result = pull("busybox", args.output, endpoints=endpoints, insecure=True, progress=BarProgress())
            say(f"wrote {result.image.path}: image {result.image.image_id}, {len(result.exchanges)} requests")
            say("starting a private Docker engine and loading the tar")
            with DockerEngine(Path(scratch) / "engine") as engine:
                loaded = engine.run("load", "-i", str(args.output.resolve()), timeout=300).stdout.strip()
                say(loaded)
                ran = engine.run("run", "--rm", "--network", "none", "busybox:latest", "echo", "hello").stdout.strip()
                say(f"docker run --rm busybox echo hello -> {ran}")
    return 0 if ran == "hello" else 1


def say(message: str) -> None:
    """A demo progress line on stderr."""
    print(f"demo: {message}", file=sys.stderr, flush=True)
