"""A repository's listings: tag lists and catalogues as tables, and an image with what is attached to it drawn as a
tree (nested ``<details>`` in notebooks, box lines in text)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .html import _text, box, human_size, plural, table

if TYPE_CHECKING:
    from ..steps.listing import NameList
    from ..steps.referrers import ImageTree, TreeNode

MAX_NAMES_SHOWN = 200  # rows of a listing in HTML; the DataFrame has every name


def names_html(listed: NameList) -> str:
    """A tag list or catalogue: its names, and how many pages and requests it took."""
    rows = [(name,) for name in listed.names[:MAX_NAMES_SHOWN]]
    more = len(listed.names) - len(rows)
    tail = f"<p>… {more} more in the DataFrame (.frame())</p>" if more > 0 else ""
    title = (
        f"{plural(len(listed.names), listed.kind[:-1])} of {listed.source} "
        f"({plural(listed.pages, 'page')}, {plural(len(listed.exchanges), 'request')})"
    )
    return box(title, table(rows, (listed.kind[:-1],)) + tail)


# Words, not colours, say what each node is (the styles may be stripped in an untrusted notebook).
_KIND = {
    "index": "index",
    "image": "image",
    "attestation": "attestation",
    "artifact": "artifact",
    "signature": "signature",
    "payload": "payload",
    "note": "note",
}


def _line(node: TreeNode) -> str:
    """One node as one line of text: what it is, its digest, size, and how it was found."""
    parts = [node.label]
    if node.digest is not None and node.kind != "payload":
        parts.append(node.digest.short)
    if node.size and node.kind != "note":
        parts.append(human_size(node.size))
    if node.via:
        parts.append(f"via {node.via}")
    line = "  ".join(parts)
    return f"{line}  ({node.note})" if node.note else line


def tree_text(tree: ImageTree) -> str:
    """The tree with ``├──``/``└──`` branches, one node a line."""
    lines = [f"{tree.reference}  (referrers API: {tree.referrers_api})", _line(tree.root)]

    def branch(node: TreeNode, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_line(child)}")
            branch(child, prefix + ("    " if last else "│   "))

    branch(tree.root, "")
    return "\n".join(lines)


def _node_html(node: TreeNode) -> str:
    head = f"<strong>{_text(_KIND.get(node.kind, node.kind))}</strong> <code>{_text(_line(node))}</code>"
    if not node.children:
        return f'<div class="rk-leaf">{head}</div>'
    inner = "".join(_node_html(child) for child in node.children)
    return f"<details open><summary>{head}</summary>{inner}</details>"


def tree_html(tree: ImageTree) -> str:
    """The tree as nested, open ``<details>``: each level folds, and reads the same without styles."""
    title = f"{tree.reference}: what is attached (referrers API: {tree.referrers_api})"
    return box(title, _node_html(tree.root))
