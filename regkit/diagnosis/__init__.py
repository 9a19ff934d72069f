"""Diagnosis of pulls through mirrors, reverse proxies and token services: the checks, their findings,
and ``proxyconfig`` (the reverse-proxy config that makes such a pull work). No HTML here: it is in
:mod:`regkit.display.diagnosis_html`.

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from .findings import Finding
from .runner import Diagnosis, diagnose

__all__ = ["Diagnosis", "Finding", "diagnose"]
