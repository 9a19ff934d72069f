"""The HTML repr every result type shares: Jupyter asks the object, the display layer answers.

Result types inherit :class:`HtmlRepr` and know nothing of their renderers; the renderers in
:mod:`regkit.display` are registered by type in :func:`regkit.display.render.render_html`.
Without a renderer (or without the display layer) the text repr is shown, escaped.
"""

from __future__ import annotations

from types import ModuleType


def display_layer() -> ModuleType:
    """:mod:`regkit.display.render` (renderers by type, the sequence diagram), imported when first asked for."""
    # The one import in regkit that points up the layers (see tests/test_structure.py): deferred
    # so that results stay free of renderers and `import regkit` loads no display code.
    from .display import render

    return render


class HtmlRepr:
    """``_repr_html_`` for Jupyter, answered by the renderer :mod:`regkit.display` registered for the type."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return str(display_layer().render_html(self))
