"""Local servers for tests, demos and teaching: registry, token service, CDN edge, nginx, fault proxy,
Docker engine; and what only they use: building sample images (``imagebuild``, ``images``), pushing
them (``upload``), running the teaching notebooks (``notebooks``) and a notebook kernel's own lab
(``kernel``, with its ``watchdog``).

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci`, :mod:`regkit.errors`, and the pure
:mod:`regkit.diagnosis.proxyconfig` (the lab runs the proxy it generates).

``Lab``, ``notebook_lab``, ``DockerEngine`` and ``DockerPull`` are imported on first use: the command line
imports this package and must stay fast.
"""

from __future__ import annotations

from typing import Any

from .modes import MODES

__all__ = ["MODES", "DockerEngine", "DockerPull", "Lab", "notebook_lab"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from .lab import Lab

        return Lab
    if name == "notebook_lab":
        from .lab import Lab

        return Lab.for_kernel
    if name in ("DockerEngine", "DockerPull"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
