"""The ``regkit`` command line; exit codes: 0 ok, 1 registry/network/verification failure, 2 bad usage.

Each command group lives in its own module and is imported only when one of its commands runs
(all of them only to list the commands, for ``--help`` or a wrong command).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from .._version import __version__
from ..errors import CacheWarning, RegkitError
from .common import printable
from .signals import exit_code, terminate_like_ctrl_c

MAX_SHOWN = 500  # characters of one error line

# command -> the module of regkit.cli that registers it (with its options, help and handler)
GROUPS = {
    "pull": "pull",
    "lab": "lab",
    "cache": "cache",
    **dict.fromkeys(("tags", "catalog", "referrers", "du"), "repository"),
    **dict.fromkeys(("layers", "files", "analyze", "export", "sizes", "compare"), "analysis"),
    **dict.fromkeys(("diagnose", "ratelimit", "proxy-config"), "diagnosis"),
}


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: only its command's group when it names one, every group otherwise."""
    parser = argparse.ArgumentParser(
        prog="regkit", description="See the Docker/OCI registry pull protocol, step by step."
    )
    # Where regkit was imported from, as pip does: a stale install shadowing a checkout shows at once.
    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--version", action="version", version=f"regkit {__version__} from {where}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # the top level has no option that takes a value, so the first other word is the command
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    groups = [GROUPS[command]] if command in GROUPS else list(dict.fromkeys(GROUPS.values()))
    for group in groups:
        importlib.import_module(f"{__package__}.{group}").add_commands(commands)
    return parser


def _shown(text: str) -> str:
    """``text`` made printable and cut: a 10,000-character name from the command line or a registry is noise."""
    text = printable(text)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}… ({len(text) - MAX_SHOWN} more characters)"


def _report(error: RegkitError) -> None:
    print(f"regkit: error: {_shown(error.message)}", file=sys.stderr)
    if error.hint:
        print(f"  hint: {_shown(error.hint.said('cli'))}", file=sys.stderr)
    if error.exchange is not None:
        print(f"  request: {_shown(error.exchange.summary())}", file=sys.stderr)


_show_warning = warnings.showwarning


def _warn(message: Warning | str, category: type[Warning], *rest: object, **named: object) -> None:
    """regkit's own warnings as one ``regkit: warning:`` line on stderr; others as Python shows them."""
    if issubclass(category, CacheWarning):
        print(f"regkit: warning: {_shown(str(message))}", file=sys.stderr)
    else:
        _show_warning(message, category, *rest, **named)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(argv).parse_args(argv)
    terminate_like_ctrl_c()
    warnings.showwarning = _warn
    try:
        return int(args.func(args))
    except RegkitError as error:
        _report(error)
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        print(f"regkit: interrupted ({str(interrupt) or 'SIGINT'}); nothing was written", file=sys.stderr)
        return exit_code(interrupt)
    except OSError as error:
        from ..oci.redact import redact_text  # on failure only: hashlib and re cost start-up time

        where = f": {error.filename}" if error.filename else ""
        print(f"regkit: error: {printable(redact_text(str(error.strerror or error)))}{where}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug: still no traceback for the user, and no secret in the message
        if os.environ.get("REGKIT_DEBUG"):
            raise
        from ..oci.redact import redact_text

        text = printable(redact_text(str(error)))[:300]
        print(f"regkit: internal error: {type(error).__name__}: {text} (REGKIT_DEBUG=1 shows where)", file=sys.stderr)
        return 1


def run() -> None:
    """Console-script entry point."""
    code = main()
    # The command is done and the OS frees the rest: spare the interpreter's last collection its walk over
    # every object requests and regkit made (~25 ms of each pull's exit). atexit handlers still run.
    gc.freeze()
    sys.exit(code)
