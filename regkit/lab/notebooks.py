"""Run the teaching notebooks and render them to HTML with their outputs.

``python -m regkit.lab.notebooks render OUTDIR [--source DIR]``: each notebook in ``notebooks/`` and
its translation folders (``notebooks/zh-CN/``) is executed top to bottom in a fresh kernel (each
starts and stops its own lab) and written to ``OUTDIR/NAME.html`` (``OUTDIR/zh-CN/NAME.html``).
The notebooks are stored without outputs; this is how to see them with.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

# The notebooks live beside the package in a checkout (they are lessons, not package data).
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Sub-folders holding the same lessons in another language: same file names, same code cells.
TRANSLATIONS = ("zh-CN",)
CELL_TIMEOUT = 600  # seconds; the slowest cell starts a Docker engine or pulls the large image


def notebook_paths(source: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks in ``source``, in lesson order, then those of each translation folder."""
    translated = [path for folder in TRANSLATIONS for path in sorted((source / folder).glob("*.ipynb"))]
    return sorted(source.glob("*.ipynb")) + translated


def load(path: Path) -> nbformat.NotebookNode:
    """Read a notebook."""
    return nbformat.read(path, as_version=4)


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a new kernel started in ``cwd``; raises on the first cell that fails."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})
    return client.execute()


def to_html(notebook: nbformat.NotebookNode) -> str:
    """The notebook as a standalone HTML page, outputs included."""
    body, _ = HTMLExporter().from_notebook_node(notebook)
    return body


def render(outdir: Path, source: Path = NOTEBOOKS) -> list[Path]:
    """Execute each notebook in ``source`` and write ``outdir/NAME.html``; returns the pages written."""
    outdir.mkdir(parents=True, exist_ok=True)
    pages = []
    for path in notebook_paths(source):
        print(f"running {path.name}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="rk-nb-") as scratch:
            executed = execute(load(path), Path(scratch))
        page = outdir / path.relative_to(source).with_suffix(".html")
        page.parent.mkdir(exist_ok=True)
        page.write_text(to_html(executed))
        pages.append(page)
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    """``render OUTDIR [--source DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m regkit.lab.notebooks", description="The teaching notebooks.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    command = actions.add_parser("render", help="execute the notebooks and write them as HTML with outputs")
    command.add_argument("outdir", type=Path, help="where the HTML pages go")
    command.add_argument("--source", type=Path, default=NOTEBOOKS, help="folder of .ipynb files (default: notebooks/)")
    args = parser.parse_args(argv)
    pages = render(args.outdir, args.source)
    if not pages:
        print(f"no notebooks in {args.source}", file=sys.stderr)
        return 1
    for page in pages:
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
