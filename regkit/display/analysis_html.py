"""HTML reprs of the analysis results, built with :mod:`regkit.display.html`'s escaped, CSS-only helpers."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .html import box, exchange_row, facts_table, human_size, table

if TYPE_CHECKING:
    from ..analysis.compare import ImageComparison
    from ..analysis.export import ExportResult
    from ..analysis.image import ImageAnalysis
    from ..analysis.layers import LayerReport
    from ..analysis.sizes import LayerSizes, SizeReport
    from ..analysis.usage import CollectionCheck, RepositoryUsage

# Long listings are cut in HTML; the DataFrames (``.frame()``, ``.files()``) have every row.
MAX_ROWS = 50
LARGEST = 10


def _more(total: int) -> str:
    return f"<p>… {total - MAX_ROWS} more rows in the DataFrame</p>" if total > MAX_ROWS else ""


def layer_html(layer: LayerReport) -> str:
    """A layer's sizes and its largest entries."""
    rows = [
        ("digest", layer.descriptor.digest),
        ("compression", layer.compression),
        ("compressed", human_size(layer.compressed_size)),
        ("uncompressed", human_size(layer.uncompressed_size)),
        ("entries", layer.file_count),
        ("created by", layer.created_by),
    ]
    largest = sorted(layer.entries, key=lambda e: (-e.size, e.path))[:MAX_ROWS]
    listing = table([(e.path, e.type, human_size(e.size), e.link) for e in largest], ("path", "type", "size", "link"))
    return box(f"Layer {layer.index}", facts_table(rows) + listing + _more(layer.file_count))


def analysis_html(analysis: ImageAnalysis) -> str:
    """Summary, per-layer changes and the wasted files."""
    summary = [
        ("reference", analysis.reference),
        ("manifest", analysis.manifest.digest),
        (
            "compressed / uncompressed",
            f"{human_size(analysis.compressed_size)} / {human_size(analysis.uncompressed_size)}",
        ),
        ("written / final", f"{human_size(analysis.written_bytes)} / {human_size(analysis.final_bytes)}"),
        ("wasted", f"{human_size(analysis.wasted_bytes)} ({analysis.wasted_bytes} bytes)"),
        ("efficiency", f"{analysis.efficiency:.4f}"),
        ("unsafe entries", len(analysis.unsafe)),
    ]
    layers = [
        (
            layer.index,
            human_size(layer.compressed_size),
            human_size(layer.uncompressed_size),
            layer.file_count,
            f"+{change.added} ({human_size(change.added_bytes)})",
            f"~{change.modified} ({human_size(change.modified_bytes)})",
            f"-{change.deleted} ({human_size(change.deleted_bytes)})",
            layer.created_by,
        )
        for layer, change in zip(analysis.layers, analysis.changes, strict=True)
    ]
    header = ("layer", "compressed", "uncompressed", "entries", "added", "modified", "deleted", "created by")
    waste = [(w.path, human_size(w.size), w.layer, w.removed_in, w.how) for w in analysis.waste[:MAX_ROWS]]
    files = [(path, human_size(node.entry.size), node.layer) for path, node in analysis.filesystem.largest(LARGEST)]
    parts = [facts_table(summary), table(layers, header), table(files, ("largest file", "size", "layer"))]
    if waste:
        parts.append(table(waste, ("wasted file", "size", "layer", "removed in", "how")) + _more(len(analysis.waste)))
    return box(f"Layer analysis of {analysis.reference}", "".join(parts))


def layer_sizes_html(sizes: LayerSizes) -> str:
    """Per-layer sizes found without downloading the layers."""
    rows = [
        (
            row["index"],
            row["compression"],
            human_size(row["compressed_size"]),
            "?" if row["uncompressed_size"] is None else human_size(row["uncompressed_size"]),
            row["source"],
            row["created_by"],
        )
        for row in sizes.rows()
    ]
    header = ("layer", "compression", "compressed", "uncompressed", "from", "created by")
    return box(f"Layer sizes of {sizes.reference} (no layer downloaded)", table(rows, header))


def size_report_html(report: SizeReport) -> str:
    """Compressed size per image and platform, and the bytes they share."""
    rows = [
        (
            r["reference"],
            r["platform"] or "",
            r["layers"],
            human_size(r["compressed_size"]),
            human_size(r["unique_size"]),
        )
        for r in report.rows()
    ]
    totals = [
        ("total", human_size(report.total_bytes)),
        ("distinct blobs", human_size(report.distinct_bytes)),
        ("shared", human_size(report.shared_bytes)),
    ]
    header = ("reference", "platform", "layers", "compressed", "only here")
    return box("Sizes from manifests", table(rows, header) + facts_table(totals))


def comparison_html(comparison: ImageComparison) -> str:
    """Layers side by side and the differing paths."""
    layers = [
        (
            r["digest"][:19],
            human_size(r["size"]),
            "" if r["left"] is None else r["left"],
            "" if r["right"] is None else r["right"],
        )
        for r in comparison.layer_rows()
    ]
    parts = [table(layers, ("layer", "size", str(comparison.left.reference), str(comparison.right.reference)))]
    if comparison.differences is not None:
        rows = [(r["path"], r["change"], ", ".join(r["fields"])) for r in comparison.rows()[:MAX_ROWS]]
        parts.append(table(rows, ("path", "change", "fields")) + _more(len(comparison.differences)))
    return box(f"{comparison.left.reference} vs {comparison.right.reference}", "".join(parts))


def export_html(result: ExportResult) -> str:
    """What an export wrote."""
    rows = [
        ("directory", result.directory),
        ("image", f"{result.reference} ({result.manifest_digest.short})"),
        (
            "written",
            f"{result.files} files, {result.directories} directories, {result.symlinks} symlinks, "
            f"{result.hardlinks} hard links, {human_size(result.bytes)}",
        ),
        ("layers read", ", ".join(map(str, result.layers_read))),
        ("set-id bits dropped", ", ".join(result.dropped_setid) or "none"),
        ("time", f"{result.seconds:.2f} s"),
    ]
    return box("Export", facts_table(rows) + "".join(exchange_row(e) for e in result.exchanges))


def usage_html(usage: RepositoryUsage) -> str:
    """Per tag: what it reaches, what only it keeps alive; the repository's totals."""
    rows = [
        (r["tag"], r["kind"], human_size(r["size_bytes"]), human_size(r["shared_bytes"]), human_size(r["unique_bytes"]))
        for r in usage.tag_rows()[:MAX_ROWS]
    ]
    totals = usage.totals()
    facts = [
        ("tags", totals["tags"]),
        ("stored once", human_size(totals["stored_bytes"])),
        ("sum of the tags' sizes", human_size(totals["total_bytes"])),
        ("dedup ratio", f"{totals['dedup_ratio']:.2f}"),
    ]
    header = ("tag", "kind", "size", "shared", "freed if deleted alone")
    body = table(rows, header) + _more(len(usage.tags)) + facts_table(facts) + f"<p>{escape(usage.summary)}</p>"
    return box(f"What each tag of {usage.reference.name} costs", body)


def collection_check_html(check: CollectionCheck) -> str:
    """The tag's unique and shared bytes, the bytes garbage collection freed, and the verdict."""
    facts = [
        ("freed if deleted alone (du)", human_size(check.unique_bytes)),
        ("kept: shared with other tags", human_size(check.shared_bytes)),
        ("freed by garbage collection", human_size(check.freed)),
    ]
    return box(f"Deleting {check.tag}, checked", facts_table(facts) + f"<p>{escape(check.summary)}</p>")
