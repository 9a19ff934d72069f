"""``regkit layers | files | analyze | export | sizes | compare``; the analysis is imported when a command runs."""

from __future__ import annotations

import argparse
import operator
import stat
import sys
from typing import TYPE_CHECKING, Any

from .common import (
    add_budget_options,
    add_registry_options,
    budgets_from_args,
    byte_count,
    client_from_args,
    positive,
)
from .common import print_json as _print_json
from .common import print_table as _print_table

if TYPE_CHECKING:
    from ..analysis.entries import FileEntry
    from ..analysis.image import ImageAnalysis
    from ..http.client import Client

_TYPE_BITS = {
    "file": stat.S_IFREG,
    "hardlink": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "char": stat.S_IFCHR,
    "block": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}
STEP_WIDTH = 60  # created_by is cut here in tables; --json has it whole


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the layer analysis commands."""
    layers = commands.add_parser("layers", help="per-layer sizes, entry counts, changes and build steps of an image")
    layers.add_argument(
        "--no-download",
        action="store_true",
        help="sizes from the manifest and one Range request per layer; uncompressed sizes are estimates",
    )
    _image_options(layers, _layers)

    files = commands.add_parser("files", help="the files of the merged image, or of one layer")
    files.add_argument("--layer", type=int, metavar="N", help="list layer N (from 0) as stored, whiteouts included")
    files.add_argument("--top", type=positive, metavar="K", help="only the K largest")
    _image_options(files, _files)

    analyze = commands.add_parser("analyze", help="waste and efficiency of an image; thresholds for CI")
    analyze.add_argument(
        "--lowest-efficiency", type=_fraction, metavar="X", help="exit 1 when the efficiency is below X (0 to 1)"
    )
    analyze.add_argument(
        "--highest-wasted-bytes",
        type=byte_count,
        metavar="N",
        help="exit 1 when more than N bytes (20MB, 5MiB) are wasted",
    )
    analyze.add_argument("--top", type=positive, default=10, metavar="K", help="rows of each list shown (default 10)")
    _image_options(analyze, _analyze)

    export = commands.add_parser("export", help="write the merged filesystem into a new or empty directory, safely")
    _image_options(export, _export, json_output=False)
    export.add_argument("directory", metavar="DIR")

    sizes = commands.add_parser("sizes", help="compressed size of tags and each platform they hold, from manifests")
    sizes.add_argument("references", nargs="+", metavar="REF")
    _registry_options(sizes, _sizes)

    compare = commands.add_parser("compare", help="two images side by side: shared layers and differing files")
    _image_options(compare, _compare)
    compare.add_argument("other", metavar="OTHER", help="the image to compare REF with")
    compare.add_argument("--layers-only", action="store_true", help="compare manifests only; no layer is downloaded")


def _registry_options(parser: argparse.ArgumentParser, func: Any, *, json_output: bool = True) -> None:
    add_registry_options(parser)
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(func=func)


def _image_options(parser: argparse.ArgumentParser, func: Any, *, json_output: bool = True) -> None:
    parser.add_argument("reference", metavar="REF", help="image reference, e.g. 127.0.0.1:5000/library/busybox")
    parser.add_argument("--platform", help="os/arch[/variant] to pick from a multi-platform image (default: this host)")
    add_budget_options(parser)
    _registry_options(parser, func, json_output=json_output)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def _client(args: argparse.Namespace) -> Client:
    return client_from_args(args)


def _size(value: int | None) -> str:
    from ..display.html import human_size

    return "?" if value is None else human_size(value)


def _step(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= STEP_WIDTH else text[: STEP_WIDTH - 1] + "…"


def _layers(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.no_download:
        from ..analysis.sizes import layer_sizes

        sizes = layer_sizes(args.reference, platform=args.platform, client=client)
        if args.json:
            _print_json(sizes.rows())
            return 0
        rows = [
            (
                r["index"],
                r["digest"][7:19],
                r["compression"],
                _size(r["compressed_size"]),
                ("" if r["exact"] else "~") + _size(r["uncompressed_size"]),
                _step(r["created_by"]),
            )
            for r in sizes.rows()
        ]
        _print_table(("#", "digest", "type", "compressed", "uncompressed", "created by"), rows)
        print("~ estimated without a download (gzip ISIZE is modulo 4 GiB); ? unknown", file=sys.stderr)
        return 0
    analysis = _analysis(args, client)
    if args.json:
        _print_json(analysis.to_dict()["layers"])
        return 0
    _print_layer_changes(analysis)
    return 0


def _analysis(args: argparse.Namespace, client: Client) -> ImageAnalysis:
    from ..analysis.image import analyze

    return analyze(args.reference, platform=args.platform, client=client, budgets=budgets_from_args(args))


def _print_layer_changes(analysis: ImageAnalysis) -> None:
    rows = [
        (
            layer.index,
            layer.descriptor.digest.short,
            layer.compression,
            _size(layer.compressed_size),
            _size(layer.uncompressed_size),
            layer.file_count,
            f"+{_size(change.added_bytes)}",
            f"~{_size(change.modified_bytes)}",
            f"-{_size(change.deleted_bytes)}",
            _step(layer.created_by),
        )
        for layer, change in zip(analysis.layers, analysis.changes, strict=True)
    ]
    header = (
        "#",
        "digest",
        "type",
        "compressed",
        "uncompressed",
        "entries",
        "added",
        "modified",
        "deleted",
        "created by",
    )
    _print_table(header, rows)


def _mode(entry: FileEntry) -> str:
    return stat.filemode(_TYPE_BITS.get(entry.type, 0) | stat.S_IMODE(entry.mode))


def _files(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.layer is not None:
        from ..analysis.image import analyze_layer

        report = analyze_layer(
            args.reference, args.layer, platform=args.platform, client=client, budgets=budgets_from_args(args)
        )
        listing = [(entry, report.index) for entry in report.entries]
    else:
        analysis = _analysis(args, client)
        listing = [(node.entry._replace(path=path), node.layer) for path, node in analysis.filesystem.walk()]
    if args.top is not None:
        listing = sorted(listing, key=lambda item: (-item[0].size, item[0].path))[: args.top]
    if args.json:
        _print_json([{**entry._asdict(), "layer": layer} for entry, layer in listing])
        return 0
    rows = [
        (
            _mode(entry),
            f"{entry.uid}/{entry.gid}",
            entry.size,
            layer,
            entry.path + (f" -> {entry.link}" if entry.type == "symlink" else ""),
        )
        for entry, layer in listing
    ]
    _print_table(("mode", "uid/gid", "size", "layer", "path"), rows)
    return 0


def _checks(args: argparse.Namespace, analysis: ImageAnalysis) -> list[dict[str, Any]]:
    """The CI thresholds given on the command line, each with the measured value and whether it holds."""
    limits = [
        ("lowest-efficiency", args.lowest_efficiency, analysis.efficiency, operator.ge),
        ("highest-wasted-bytes", args.highest_wasted_bytes, analysis.wasted_bytes, operator.le),
    ]
    return [
        {"check": name, "limit": limit, "value": value, "passed": holds(value, limit)}
        for name, limit, value, holds in limits
        if limit is not None
    ]


def _analyze(args: argparse.Namespace) -> int:
    analysis = _analysis(args, _client(args))
    checks = _checks(args, analysis)
    failed = [c for c in checks if not c["passed"]]
    if args.json:
        _print_json({**analysis.to_dict(), "checks": checks})
    else:
        print_analysis(analysis, args.top)
        for check in checks:
            shown = {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in check.items()}
            print(
                f"{'PASS' if check['passed'] else 'FAIL'}  {check['check']}: {shown['value']} (limit {shown['limit']})"
            )
    if failed:
        names = ", ".join(c["check"] for c in failed)
        print(f"regkit: analyze: {len(failed)} of {len(checks)} checks failed: {names}", file=sys.stderr)
    return 1 if failed else 0


def print_analysis(analysis: ImageAnalysis, top: int) -> None:
    """The analysis as text: sizes, efficiency, layers, and the ``top`` rows of each list."""
    platform = f" ({analysis.manifest.platform})" if analysis.manifest.platform else ""
    print(f"image       {analysis.reference}{platform} {analysis.manifest.digest}")
    print(
        f"layers      {len(analysis.layers)}: {_size(analysis.compressed_size)} compressed, "
        f"{_size(analysis.uncompressed_size)} uncompressed"
    )
    print(f"written     {analysis.written_bytes} bytes of files in all layers")
    print(f"final       {analysis.final_bytes} bytes of files in the merged image")
    print(f"wasted      {analysis.wasted_bytes} bytes ({_size(analysis.wasted_bytes)}) overwritten or deleted")
    print(f"efficiency  {analysis.efficiency:.4f} (1 - wasted / written)")
    print()
    _print_layer_changes(analysis)
    if analysis.waste:
        print(f"\nwasted files ({len(analysis.waste)}, largest first)")
        wasted = [(w.size, w.layer, w.removed_in, w.how, w.path) for w in analysis.waste[:top]]
        _print_table(("bytes", "layer", "removed in", "how", "path"), wasted)
    duplicates = analysis.duplicates()
    if duplicates:
        print(f"\ncontents stored more than once ({len(duplicates)})")
        copies = [(size, len(where), ", ".join(f"{i}:{p}" for i, p in where)) for _, size, where in duplicates[:top]]
        _print_table(("bytes", "copies", "layer:path"), copies)
    if analysis.unsafe:
        print(f"\nunsafe entries ({len(analysis.unsafe)}), left out of the tree and refused by export")
        _print_table(("layer", "reason", "path"), [(u.layer, u.reason, u.path) for u in analysis.unsafe[:top]])


def _export(args: argparse.Namespace) -> int:
    from ..analysis.export import export

    result = export(
        args.reference, args.directory, platform=args.platform, client=_client(args), budgets=budgets_from_args(args)
    )
    print(
        f"wrote {result.directory}: {result.files} files ({result.bytes} bytes), {result.directories} directories, "
        f"{result.symlinks} symlinks, {result.hardlinks} hard links from layers "
        f"{', '.join(map(str, result.layers_read)) or 'none'} in {result.seconds:.1f} s",
        file=sys.stderr,
    )
    if result.dropped_setid:
        print(f"setuid/setgid bits dropped on {len(result.dropped_setid)} paths", file=sys.stderr)
    return 0


def _sizes(args: argparse.Namespace) -> int:
    from ..analysis.sizes import manifest_sizes

    report = manifest_sizes(args.references, client=_client(args))
    if args.json:
        _print_json(report.to_dict())
        return 0
    rows = [
        (r["reference"], r["platform"] or "", r["layers"], _size(r["compressed_size"]), _size(r["unique_size"]))
        for r in report.rows()
    ]
    _print_table(("reference", "platform", "layers", "compressed", "only here"), rows)
    print(
        f"\ntotal {_size(report.total_bytes)}, distinct blobs {_size(report.distinct_bytes)}, "
        f"shared {_size(report.shared_bytes)}"
    )
    shared = [(r["digest"][7:19], _size(r["size"]), r["users"]) for r in report.blob_rows() if r["users"] > 1]
    if shared:
        print()
        _print_table(("shared blob", "size", "images"), shared)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare_images

    comparison = compare_images(
        args.reference,
        args.other,
        platform=args.platform,
        files=not args.layers_only,
        client=_client(args),
        budgets=budgets_from_args(args),
    )
    if args.json:
        _print_json(comparison.to_dict())
        return 0
    rows = [
        (
            r["digest"][7:19],
            _size(r["size"]),
            "" if r["left"] is None else r["left"],
            "" if r["right"] is None else r["right"],
        )
        for r in comparison.layer_rows()
    ]
    _print_table(("layer", "size", "REF", "OTHER"), rows)
    print(f"\n{len(comparison.shared_layers)} shared layers, {_size(comparison.shared_bytes)}")
    if comparison.differences is not None:
        print(f"{len(comparison.differences)} paths differ\n")
        _print_table(
            ("change", "fields", "path"), [(r["change"], ",".join(r["fields"]), r["path"]) for r in comparison.rows()]
        )
    return 0
