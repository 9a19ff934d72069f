"""The lessons read as lessons: short code cells about pulls, the lab's plumbing kept in the library.

Every notebook under ``notebooks/`` (each language) is read, not run: each code cell is at most
:data:`MAX_LINES` lines (blank ones not counted); no cell reads a log file or the lab's state
directory (``lab.traffic()`` does); no cell glues string literals into sentences (a result's
``summary`` does); regkit is imported from ``regkit`` and ``regkit.lab`` only.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from pathlib import Path

import pytest

from regkit.lab.notebooks import NOTEBOOKS, load, notebook_paths

MAX_LINES = 12
# What reading the lab's logs or its files by hand looks like: a log file, the state directory, a
# server's port (to pick its lines out of a shared log).
PLUMBING = re.compile(r"\.log\b|access_log|log_path|state_dir|settings\.\w+|\.split\(\)")
ALLOWED_REGKIT = {"regkit", "regkit.lab"}


def cells(path: Path) -> list[str]:
    return [cell.source for cell in load(path).cells if cell.cell_type == "code"]


def python_of(source: str) -> str:
    """The cell without IPython's magics (``%matplotlib inline``), which are not Python."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


def regkit_imports(source: str) -> set[str]:
    """The regkit modules a cell imports from."""
    found = set()
    for node in ast.walk(ast.parse(python_of(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name == "regkit" or name.startswith("regkit.")}


def joins_literals(source: str) -> bool:
    """Whether two string literals stand next to each other (implicit concatenation: a sentence being built)."""
    kinds = [
        token.type
        for token in tokenize.generate_tokens(io.StringIO(python_of(source)).readline)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    ]
    # Python 3.12 splits an f-string into FSTRING_START … FSTRING_END; before, it is one STRING.
    ends = {tokenize.STRING, getattr(tokenize, "FSTRING_END", tokenize.STRING)}
    starts = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}
    return any(a in ends and b in starts for a, b in itertools.pairwise(kinds))


def lesson_id(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS).with_suffix(""))


@pytest.mark.parametrize("path", notebook_paths(), ids=lesson_id)
def test_every_code_cell_is_short_and_about_the_pull(path: Path):
    sources = cells(path)
    assert sources, f"{path.name} has no code"
    for number, source in enumerate(sources, 1):
        where = f"{lesson_id(path)}, code cell {number}"
        lines = [line for line in source.splitlines() if line.strip()]
        assert len(lines) <= MAX_LINES, f"{where} has {len(lines)} lines"
        assert PLUMBING.findall(source) == [], f"{where} reads the lab's logs or files"
        assert not joins_literals(source), f"{where} builds prose out of string literals"
        assert regkit_imports(source) <= ALLOWED_REGKIT, f"{where} imports {regkit_imports(source)}"


def test_the_checks_catch_what_they_are_for():
    # The old lesson 05's log reading and prose, and lesson 04's imports: each check fails on them.
    assert PLUMBING.findall("rows = [line.split() for line in ACCESS_LOG.read_text().splitlines()]") == [".split()"]
    assert PLUMBING.findall('ACCESS_LOG = lab.state_dir / "nginx" / "access.log"') == ["state_dir", ".log"]
    assert joins_literals('print(\n    f"the first {n} requests "\n    f"and {m} bytes"\n)')
    assert not joins_literals('print(f"answered by {who}", "and", n)')
    assert regkit_imports("%matplotlib inline\nfrom regkit.display import charts\nimport regkit") == {
        "regkit.display",
        "regkit",
    }
