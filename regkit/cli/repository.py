"""``regkit tags | catalog | referrers``: what a repository and a registry hold, and what is attached to an image."""

from __future__ import annotations

import argparse
from typing import Any

from ..oci.budget_options import MAX_NAMES
from .common import add_registry_options, client_from_args, positive, print_json, printable


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the repository commands."""
    tags = commands.add_parser("tags", help="the tags of a repository, following the registry's pages")
    tags.add_argument("reference", metavar="REPO", help="repository, e.g. 127.0.0.1:5000/library/busybox")
    _listing_options(tags, _tags)

    catalog = commands.add_parser("catalog", help="the repositories a registry lists in /v2/_catalog")
    catalog.add_argument("host", metavar="HOST", help="registry host[:port], e.g. 127.0.0.1:5000")
    _listing_options(catalog, _catalog)

    referrers = commands.add_parser(
        "referrers", help="an image as a tree: platforms, attestations, referrers (SBOMs, provenance), signatures"
    )
    referrers.add_argument("reference", metavar="REF", help="image reference, e.g. 127.0.0.1:5000/library/app:v1")
    referrers.add_argument(
        "--artifact-type", metavar="TYPE", help="only artifacts of this type (application/spdx+json)"
    )
    add_registry_options(referrers)
    referrers.add_argument("--json", action="store_true", help="print the tree as JSON")
    referrers.set_defaults(func=_referrers)


def _listing_options(parser: argparse.ArgumentParser, func: Any) -> None:
    parser.add_argument("--page-size", type=positive, metavar="N", help="names per page, 1 to 1000 (default 1000)")
    parser.add_argument(
        "--max-tags",
        type=positive,
        default=MAX_NAMES,
        metavar="N",
        help=f"budget: refuse a listing of more than N names (default {MAX_NAMES})",
    )
    add_registry_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of one name a line")
    parser.set_defaults(func=func)


def _tags(args: argparse.Namespace) -> int:
    from ..steps.listing import tag_list

    with client_from_args(args) as client:
        listed = tag_list(args.reference, page_size=args.page_size, max_names=args.max_tags, client=client)
    return _print_names(args, listed.to_dict(), listed.names)


def _catalog(args: argparse.Namespace) -> int:
    from ..steps.listing import registry_catalog

    with client_from_args(args) as client:
        listed = registry_catalog(args.host, page_size=args.page_size, max_names=args.max_tags, client=client)
    return _print_names(args, listed.to_dict(), listed.names)


def _print_names(args: argparse.Namespace, summary: dict[str, Any], names: tuple[str, ...]) -> int:
    if args.json:
        print_json(summary)
    else:
        for name in names:
            print(printable(name))
    return 0


def _referrers(args: argparse.Namespace) -> int:
    from ..steps.referrers import image_tree

    with client_from_args(args) as client:
        tree = image_tree(args.reference, artifact_type=args.artifact_type, client=client)
    if args.json:
        print_json(tree.to_dict())
    else:
        print(printable(tree.text()))
    return 0
