"""``regkit cache ls | du | prune | verify``: the blob cache that pulls, analyses and notebooks share."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..storage.store import BlobStore


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``cache`` and its subcommands."""
    cache = commands.add_parser("cache", help="list, measure, prune or verify the blob cache")
    cache.add_argument(
        "--cache-dir", type=Path, help="the cache (default: $REGKIT_CACHE_DIR, $XDG_CACHE_HOME/regkit, ~/.cache/regkit)"
    )
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("ls", help="every blob: digest, size, last use").set_defaults(func=_ls)
    actions.add_parser(
        "du", help="how many blobs and bytes the cache holds, and its temporary files (live, or left by ended pulls)"
    ).set_defaults(func=_du)
    prune = actions.add_parser("prune", help="remove blobs unused for a while, or the least recently used ones")
    prune.add_argument("--max-size", metavar="SIZE", help="keep at most SIZE bytes (K, M, G, T suffixes), LRU first")
    prune.add_argument("--older-than", metavar="AGE", help="remove blobs unused for AGE (s, m, h, d, w suffixes)")
    prune.set_defaults(func=_prune)
    actions.add_parser("verify", help="hash every blob now; remove those that no longer match").set_defaults(
        func=_verify
    )


def _cache(args: argparse.Namespace) -> BlobStore:
    """The cache to read; a ``--cache-dir`` that is something other than a directory is a usage error."""
    from ..errors import InvalidOption
    from ..storage.cache import default_cache_dir
    from ..storage.store import BlobStore

    root = args.cache_dir or default_cache_dir()
    if root.exists() and not root.is_dir():
        raise InvalidOption(f"the cache directory {root} is not a directory", hint="name the cache's directory")
    return BlobStore(root)


def _swept(args: argparse.Namespace) -> BlobStore:
    """The cache to change, with the temporary files of ended pulls removed first (and said so)."""
    cache = _cache(args)
    stale = cache.remove_stale()
    if stale:
        freed = sum(p.size for p in stale)
        print(f"removed {len(stale)} temporary files left by ended pulls, {freed} bytes")
    return cache


def _ls(args: argparse.Namespace) -> int:
    from ..storage.cache import blobs

    for blob in sorted(blobs(_cache(args)), key=lambda b: -b.last_used):
        used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(blob.last_used))
        where = f"  packed in {blob.path.name} at {blob.offset}" if blob.packed else ""
        print(f"{blob.digest}  {blob.size:>12}  {used}{where}")
    return 0


def _du(args: argparse.Namespace) -> int:
    from ..storage.cache import blobs, total_size

    cache = _cache(args)
    entries = list(blobs(cache))
    packed = sum(1 for b in entries if b.packed)
    print(f"{cache.root}: {len(entries)} blobs ({packed} packed in output tars), {total_size(cache)} bytes")
    partials = cache.partials()
    stale, live = [p for p in partials if not p.live], [p for p in partials if p.live]
    print(
        f"temporary files: {len(stale)} left by ended pulls, {sum(p.size for p in stale)} bytes"
        f" (removed by the next pull, prune or verify); {len(live)} being written, {sum(p.size for p in live)} bytes"
    )
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..errors import InvalidOption
    from ..storage.cache import parse_age, parse_size, prune

    if args.max_size is None and args.older_than is None:
        raise InvalidOption("say what to prune: --max-size SIZE and/or --older-than AGE")
    removed = prune(
        _swept(args),
        max_size=None if args.max_size is None else parse_size(args.max_size),
        older_than=None if args.older_than is None else parse_age(args.older_than),
    )
    print(f"removed {len(removed)} blobs, {sum(b.size for b in removed)} bytes")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..storage.cache import verify

    good, bad = verify(_swept(args))
    for blob in bad:
        print(f"removed {blob.digest}: its content no longer matches its digest", file=sys.stderr)
    print(f"{len(good)} blobs verified, {len(bad)} removed")
    return 1 if bad else 0
