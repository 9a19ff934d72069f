"""Sphinx configuration: the reference built from the docstrings, the README and the lessons, offline.

Why Sphinx with MyST-NB: the docstrings are numpydoc (what Jupyter's Shift-Tab shows), which Sphinx's
napoleon reads natively; MyST renders the README as it is on GitHub; MyST-NB renders the lessons without a
kernel (``nb_execution_mode = "off"``). ``scripts/docs`` builds it with warnings as errors.

The API pages are generated here from each public package's ``__all__``, the one list the package itself
uses, so a new public name is documented (and its docstring checked by Sphinx) without editing a page.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import regkit  # noqa: E402  (after the path: this checkout's regkit)

project = "regkit"
release = regkit.__version__
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
nb_execution_mode = "off"  # the lessons need a lab (a registry, nginx, a Docker engine): rendered as stored
myst_heading_anchors = 3  # the README's #section links
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # attributes as a field list: no second object description of a class exported twice
# The README links files of the repository (regkit/errors.py, tests/…), which are not pages of this site.
suppress_warnings = ["myst.xref_missing"]

PACKAGES = {
    "regkit": "The package: steps, results, options, errors",
    "regkit.analysis": "regkit.analysis: layers, files, sizes, comparison, export",
    "regkit.diagnosis": "regkit.diagnosis: why a pull fails",
    "regkit.display": "regkit.display: tables, charts, widgets, the sequence diagram",
    "regkit.lab": "regkit.lab: local servers for lessons and tests",
}


def _api_page(name: str, title: str) -> str:
    package = importlib.import_module(name)
    lines = [title, "=" * len(title), "", f".. module:: {name}", "   :no-index:", ""]
    for public in package.__all__:
        value = getattr(package, public)
        if inspect.ismodule(value) or public.startswith("__"):
            continue
        if inspect.isclass(value):
            lines += [
                f".. autoclass:: {name}.{public}",
                "   :members:",
                "   :no-index:" if name != "regkit" else "",
                "",
            ]
        elif callable(value):
            lines += [f".. autofunction:: {name}.{public}", "   :no-index:" if name != "regkit" else "", ""]
        else:
            lines += [f".. autodata:: {name}.{public}", "   :no-value:", "   :no-index:", ""]
    return "\n".join(lines) + "\n"


def _generate() -> None:
    generated = DOCS / "_generated"
    shutil.rmtree(generated, ignore_errors=True)
    (generated / "lessons").mkdir(parents=True)
    for name, title in PACKAGES.items():
        (generated / f"{name}.rst").write_text(_api_page(name, title))
    for lesson in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # cell ids added on the way: the stored lessons predate them, and nbformat warns without them
        notebook = json.loads(lesson.read_text())
        for number, cell in enumerate(notebook["cells"]):
            cell.setdefault("id", f"cell-{number}")
        notebook["nbformat_minor"] = max(notebook.get("nbformat_minor", 0), 5)
        (generated / "lessons" / lesson.name).write_text(json.dumps(notebook))


_generate()
