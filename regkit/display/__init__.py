"""Every renderer, kept out of the protocol modules: ``html`` (Jupyter reprs of the steps),
``analysis_html`` and ``diagnosis_html`` (reprs of those results), ``tables`` (pandas), ``charts`` and
``analysis_charts`` (matplotlib), ``widgets`` (ipywidgets), ``sequence`` (the sequence diagram of a pull,
SVG and text); ``sequence``, the
modules a notebook uses and the widgets are importable from here; ``render`` registers each HTML renderer for
its result type. Regkit itself imports only ``render`` (with the HTML modules and ``sequence``), from
:func:`regkit._repr.display_layer` — the one import pointing up the layers: ``import regkit`` loads no
pandas, matplotlib or ipywidgets.

May import the layers below it: :mod:`regkit.analysis`, :mod:`regkit.diagnosis`,
:mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._public import public

if TYPE_CHECKING:
    from . import analysis_charts, charts, tables, widgets
    from .sequence import sequence
    from .widgets import LayerExplorer, PullStepper, WidgetProgress

# ``sequence`` is loaded at once: it is also a submodule's name, and that submodule imported first would
# otherwise stand where the function belongs. The rest (matplotlib, pandas, ipywidgets) on first use.
__all__, __getattr__, __dir__ = public(
    __name__,
    {
        "LayerExplorer": ".widgets",
        "PullStepper": ".widgets",
        "WidgetProgress": ".widgets",
        "analysis_charts": ".",
        "charts": ".",
        "sequence": ".sequence",
        "tables": ".",
        "widgets": ".",
    },
    eager=["sequence"],
)
