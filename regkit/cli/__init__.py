"""The command line (top layer): ``main`` parses and reports; one module per command group (``pull``,
``lab``, ``analysis``, ``diagnosis``) and ``common`` for the options they share.

May import every other layer; nothing in regkit imports it (``regkit = "regkit.cli:run"`` and
``python -m regkit`` are its only callers). A group's module is imported only when its command runs.
"""

from __future__ import annotations

from .main import run

__all__ = ["run"]
