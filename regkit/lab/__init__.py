"""Local servers for tests, demos and teaching: registry, token service, CDN edge, nginx, fault proxy,
Docker engine; and what only they use: building sample images (``imagebuild``, ``images``), pushing
them (``upload``), running the teaching notebooks (``notebooks``) and a notebook kernel's own lab
(``kernel``, with its ``watchdog``).

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci`, :mod:`regkit.errors`, and the pure
:mod:`regkit.diagnosis.proxyconfig` (the lab runs the proxy it generates).

Its public names are imported on first use: the command line imports this package and must stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._public import public

if TYPE_CHECKING:
    from .corpnet import CorporateNetwork
    from .engine import DockerEngine, DockerPull
    from .lab import Lab, notebook_lab
    from .modes import MODES

__all__, __getattr__, __dir__ = public(
    __name__,
    {
        "CorporateNetwork": ".corpnet",
        "DockerEngine": ".engine",
        "DockerPull": ".engine",
        "Lab": ".lab",
        "MODES": ".modes",
        "notebook_lab": ".lab",
    },
)
