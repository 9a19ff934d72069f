"""Diagnosis of pulls through mirrors, reverse proxies and token services: the checks, their findings,
and ``proxyconfig`` (the reverse-proxy config that makes such a pull work). No HTML here: it is in
:mod:`regkit.display.diagnosis_html`.

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._public import public

if TYPE_CHECKING:
    from .findings import Finding
    from .runner import Diagnosis, diagnose, rate_limit

__all__, __getattr__, __dir__ = public(
    __name__, {"Diagnosis": ".runner", "Finding": ".findings", "diagnose": ".runner", "rate_limit": ".runner"}
)
