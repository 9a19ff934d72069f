"""One public surface (in the style of httpx's test_exported_members): in regkit and each public subpackage,
``dir()``, ``__all__``, the type checker's imports and what actually imports agree, and Jupyter completes it."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import regkit
import regkit.http.client

PACKAGES = ["regkit", "regkit.analysis", "regkit.diagnosis", "regkit.display", "regkit.lab"]


def dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def is_package_module(name: str) -> bool:
    """Whether ``name`` (``regkit.display.charts``) is a module of a package, not a name in a module."""
    parent = importlib.import_module(name.rpartition(".")[0])
    return hasattr(parent, "__path__") and importlib.util.find_spec(name) is not None


def type_checking_imports(module: ModuleType) -> dict[str, str]:
    """Name -> the module it comes from, for each import under the package's ``if TYPE_CHECKING:``
    (for a submodule, as in ``from . import x`` or ``from .display import charts``: the submodule itself,
    ending in ``:``)."""
    tree = ast.parse(Path(module.__file__ or "").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                base = importlib.util.resolve_name("." * statement.level + (statement.module or ""), module.__name__)
                for alias in statement.names:
                    submodule = f"{base}.{alias.name}"
                    found[alias.asname or alias.name] = f"{submodule}:" if is_package_module(submodule) else base
    return found


@pytest.mark.parametrize("name", PACKAGES)
def test_dir_all_and_the_type_checkers_imports_agree(name: str):
    package = importlib.import_module(name)
    public = package.__all__
    assert public == sorted(set(public)), "sorted, once each"
    assert [n for n in dir(package) if not dunder(n)] == [n for n in public if not dunder(n)]
    assert set(public) <= set(dir(package))
    assert "annotations" not in dir(package) and "TYPE_CHECKING" not in dir(package)
    assert set(type_checking_imports(package)) == {n for n in public if not dunder(n)}


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_imports_from_where_the_type_checker_looks(name: str):
    package = importlib.import_module(name)
    for public, source in type_checking_imports(package).items():
        value = getattr(package, public)
        namespace: dict[str, object] = {}
        exec(f"from {name} import {public}", namespace)  # the statement a user writes
        assert namespace[public] is value
        assert inspect.ismodule(value) == source.endswith(":"), (public, source)
        if inspect.ismodule(value):
            assert f"{value.__name__}:" == source
        else:
            assert getattr(importlib.import_module(source), public) is value, (public, source)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        package.nothing_here  # noqa: B018


def test_import_regkit_loads_no_layer_below_until_a_name_is_used():
    loaded = "sorted(m for m in sys.modules if m.startswith(('regkit.', 'requests')))"
    probe = f"import sys, regkit; dir(regkit); print({loaded})"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['regkit._public', 'regkit._version']"


def test_the_client_is_one_class():
    assert regkit.Client is regkit.http.client.Client
    assert regkit.Repository(regkit.Client(docker_config=False), "busybox").reference.repository == "library/busybox"


# What a documented keyword takes, by the names in the annotations of the public functions and classes. These
# are no class a user needs: the standard library's, aliases of plain values (a str, a path, a tuple, a dict),
# and what regkit builds itself (a Token's Challenge, a Transport other than the MockTransport).
# The standard library's own types (concurrent.futures.Executor, …): a user imports them from there.
PLAIN = {"Any", "Callable", "Iterable", "Literal", "Mapping", "None", "Path", "PathLike", "Sequence", "TextIO"}
PLAIN |= {"Executor"}
PLAIN |= {"AuthArg", "CaCertArg", "Front", "LayerCache", "Challenge", "Transport"}


def test_everything_a_documented_keyword_takes_is_importable_from_regkit():
    missing = set()
    for public in regkit.__all__:
        value = getattr(regkit, public)
        if not callable(value) or inspect.ismodule(value):
            continue
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):
            continue
        for parameter in signature.parameters.values():
            if parameter.kind is parameter.KEYWORD_ONLY or parameter.default is not parameter.empty:
                names = re.findall(r"\b[A-Z]\w*", str(parameter.annotation))
                missing |= {n for n in names if n not in regkit.__all__ and n not in PLAIN and not n.isupper()}
    assert missing == set()


def test_ipython_completes_the_public_names():
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("import regkit")
        for use_jedi in (True, False):  # the kernel's default (jedi) and IPython's own attribute matcher
            shell.Completer.use_jedi = use_jedi
            with provisionalcompleter():
                offered = [c.text.rpartition(".")[2] for c in shell.Completer.completions("regkit.pu", 9)]
                assert offered == ["pull"], (use_jedi, offered)
                code = "regkit.lab."
                offered = [c.text.rpartition(".")[2] for c in shell.Completer.completions(code, len(code))]
                assert "Lab" in offered and "annotations" not in offered, (use_jedi, offered)
                code = "regkit."
                offered = {c.text.rpartition(".")[2] for c in shell.Completer.completions(code, len(code))}
                assert {"Any", "TYPE_CHECKING", "annotations", "public"}.isdisjoint(offered)
                assert {"pull", "Client", "Mirrors", "Lab", "analyze"} <= offered
    finally:
        InteractiveShell.clear_instance()
