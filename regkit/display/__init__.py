"""Every renderer, kept out of the protocol modules: ``html`` (Jupyter reprs of the steps),
``analysis_html`` and ``diagnosis_html`` (reprs of those results), ``tables`` (pandas), ``charts`` and
``analysis_charts`` (matplotlib), ``widgets`` (ipywidgets), ``sequence`` (the sequence diagram of a pull,
SVG and text; :func:`sequence` is also importable from here); ``render`` registers each HTML renderer for
its result type. Regkit itself imports only ``render`` (with the HTML modules and ``sequence``), from
:func:`regkit._repr.display_layer` — the one import pointing up the layers: ``import regkit`` loads no
pandas, matplotlib or ipywidgets.

May import the layers below it: :mod:`regkit.analysis`, :mod:`regkit.diagnosis`,
:mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from .sequence import sequence

__all__ = ["sequence"]
