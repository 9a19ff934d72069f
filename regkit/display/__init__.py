"""Every renderer, kept out of the protocol modules: ``html`` (Jupyter reprs of the steps),
``analysis_html`` and ``diagnosis_html`` (reprs of those results), ``tables`` (pandas), ``charts`` and
``analysis_charts`` (matplotlib), ``widgets`` (ipywidgets), ``sequence`` (the sequence diagram of a pull, SVG and
text; :func:`sequence` is also importable from here). Only the HTML modules are imported by
regkit itself, and only inside ``_repr_html_``: ``import regkit`` loads no pandas, matplotlib or ipywidgets.

May import every layer below the command line: :mod:`regkit.analysis`, :mod:`regkit.diagnosis`,
:mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from .sequence import sequence

__all__ = ["sequence"]
