"""Local servers for tests, demos and teaching: registry, token service, CDN edge, nginx, fault proxy,
Docker engine; and what only they use: building sample images (``imagebuild``, ``images``), pushing
them (``upload``) and running the teaching notebooks (``notebooks``).

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci`, :mod:`regkit.errors`, and the pure
:mod:`regkit.diagnosis.proxyconfig` (the lab runs the proxy it generates).

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
