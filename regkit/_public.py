"""A package's public surface from one list: its ``__all__``, its lazy ``__getattr__`` (PEP 562) and its ``__dir__``.

``import regkit`` must stay instant (the command line's ``--help`` imports it), so a public name is
imported from its module on first use. ``dir()`` — and so Jupyter's tab completion — shows exactly the
public names (and the dunders), not ``annotations`` or ``TYPE_CHECKING``. ``tests/test_public.py``
checks that ``dir()``, ``__all__``, the type checker's imports and what imports agree in every package.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def public(
    package: str, exports: Mapping[str, str], *, eager: Iterable[str] = ()
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, generated from ``exports``.

    Parameters
    ----------
    package : str
        The package's ``__name__``; it must be importing (in ``sys.modules``).
    exports : Mapping[str, str]
        Public name -> the module defining it, relative to ``package`` (``".http.client"``), as in
        ``from .http.client import Client``; ``"."`` for a submodule, as in ``from . import lab``.
    eager : Iterable[str], optional
        Names loaded at once: those that are also a submodule's name (``regkit.display.sequence``),
        since importing the submodule later would put the module where the function should be.

    Returns
    -------
    tuple
        ``(__all__, __getattr__, __dir__)``, to assign at the package's top level.

    Raises
    ------
    KeyError
        When ``package`` is not being imported.
    """
    namespace = vars(sys.modules[package])

    def load(name: str) -> Any:
        source = exports[name]
        value = import_module(f".{name}", package) if source == "." else getattr(import_module(source, package), name)
        namespace[name] = value  # later lookups find it without coming here
        return value

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return load(name)

    def __dir__() -> list[str]:
        return sorted({*exports, *(name for name in namespace if name.startswith("__"))})

    for name in eager:
        load(name)
    return sorted(exports), __getattr__, __dir__
