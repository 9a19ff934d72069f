"""Local servers for tests, demos and teaching: registry, Docker engine, proxies.

``Lab`` is imported on first use: the command line imports this package and must stay fast.
"""

from __future__ import annotations

from typing import Any

MODES = ("hub", "open")

__all__ = ["MODES", "Lab"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from .lab import Lab

        return Lab
    raise AttributeError(name)
