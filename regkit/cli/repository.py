"""``regkit tags | catalog | referrers | du``: what a repository and a registry hold, what is attached to an
image, and what each tag costs."""

from __future__ import annotations

import argparse
from typing import Any

from ..oci.budget_options import MAX_NAMES
from .common import add_registry_options, client_from_args, positive, print_json, print_table, printable


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

    du = commands.add_parser("du", help="what each tag of a repository costs: shared bytes, bytes only it keeps")
    du.add_argument("reference", metavar="REPO", help="repository, e.g. 127.0.0.1:5000/library/app")
    du.add_argument("--tags", metavar="GLOB", help="only tags matching GLOB ('v1.*'); the others still share")
    du.add_argument("--all-platforms", action="store_true", help="a row for every platform of an index")
    du.add_argument("--platform", help="os/arch[/variant] whose rows are shown (default: this host)")
    du.add_argument("--csv", action="store_true", help="print the rows as CSV")
    du.add_argument(
        "--max-tags", type=positive, default=MAX_NAMES, metavar="N", help=f"budget of tags (default {MAX_NAMES})"
    )
    add_registry_options(du)
    du.add_argument("--json", action="store_true", help="print rows, tags, layers and totals as JSON")
    du.set_defaults(func=_du)


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


def _du(args: argparse.Namespace) -> int:
    from ..analysis.usage import repository_usage
    from ..display.html import human_size

    with client_from_args(args) as client:
        usage = repository_usage(
            args.reference,
            tags=args.tags,
            all_platforms=args.all_platforms,
            platform=args.platform,
            max_names=args.max_tags,
            client=client,
        )
    if args.json:
        print_json(usage.to_dict())
    elif args.csv:
        print(usage.frame().to_csv(index=False), end="")
    else:
        rows = [
            (
                r["tag"],
                r["platform"] or "-",
                human_size(r["compressed_size"]),
                human_size(r["shared_bytes"]),
                human_size(r["unique_bytes"]),
            )
            for r in usage.rows()
        ]
        print_table(("TAG", "PLATFORM", "SIZE", "SHARED", "UNIQUE"), rows)
        totals = usage.totals()
        print(
            f"{totals['tags']} tags: {human_size(totals['total_bytes'])} as the sum of their sizes, "
            f"{human_size(totals['stored_bytes'])} stored once (dedup ratio {totals['dedup_ratio']:.2f})"
        )
    return 0
