"""ipywidgets: progress bars per blob, a pull one button per step, and a layer explorer.

Every widget here is also usable without a browser: :meth:`PullStepper.run` does what a click
does, so a notebook (or a test) can drive the steps from code.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w

from ..errors import InvalidOption, RegkitError
from ..http.client import Client
from ..oci.manifest import Descriptor, ImageManifest
from ..oci.platform import Platform
from ..oci.reference import resolve
from ..steps.auth import get_token
from ..steps.manifest_fetch import ManifestResult, get_manifest
from ..steps.progress import Progress
from ..steps.pull import DEFAULT_JOBS, default_output, fetch_all
from ..steps.repository import Repository
from ..steps.tarball import assemble
from ..storage.cache import default_cache_dir, swept
from ..storage.store import BlobStore
from .html import box, facts_table, human_size
from .tables import layers_table

STEPS = ("resolve", "token", "manifest", "blobs", "assemble")


class WidgetProgress(Progress):
    """Pull progress as widgets: the latest step line and one bar per blob; display it, or its ``widget``."""

    def __init__(self) -> None:
        self.status = w.Label()
        self.bars = w.VBox()
        self.widget = w.VBox([self.status, self.bars])
        self._bars: dict[Any, w.IntProgress] = {}
        self._lock = threading.Lock()

    def step(self, name: str, detail: str) -> None:
        self.status.value = f"{name}: {detail}"

    def begin(self, descriptor: Descriptor, label: str) -> None:
        bar = w.IntProgress(
            value=0,
            max=max(descriptor.size, 1),
            description=label,
            style={"description_width": "initial"},
            layout={"width": "60%"},
        )
        with self._lock:  # downloads begin from several threads at once
            self._bars[descriptor.digest] = bar
            self.bars.children = (*self.bars.children, w.HBox([bar, w.Label(human_size(descriptor.size))]))

    def advance(self, descriptor: Descriptor, count: int) -> None:
        bar = self._bars.get(descriptor.digest)
        if bar is not None:
            bar.value = min(bar.value + count, bar.max)

    def end(self, descriptor: Descriptor) -> None:
        bar = self._bars.get(descriptor.digest)
        if bar is not None:
            bar.value, bar.bar_style = bar.max, "success"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _html(result: Any) -> str:
    """A step's result as HTML: its own repr, or each item's for the blobs tuple."""
    items = result if isinstance(result, tuple) else (result,)
    return "".join(item._repr_html_() for item in items)


# A button's look after its step: ipywidgets' style, an icon, and a word in the tooltip (colour is not alone).
_DONE = {"done": ("success", "check"), "failed": ("danger", "times"), "running": ("info", "spinner")}


class PullStepper:
    """A pull as five buttons; each press runs one step and shows its result with its requests and responses.

    The step just run is shown open right under the buttons (with its progress bars); the steps before it
    are folded above it, one line each. Pressing a step again replaces its output instead of adding a copy.

    Parameters
    ----------
    ref : str
        The image to pull.
    output : str or os.PathLike, optional
        The tar the last step writes; default a name made from the reference.
    client : Client, optional
        The client to use; default a new one.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    blobs : str or os.PathLike, optional
        Where the blobs are stored between steps; default the blob cache.
    jobs : int, default 3
        Blobs downloaded at a time.
    """

    def __init__(
        self,
        ref: str,
        output: str | os.PathLike[str] | None = None,
        *,
        client: Client | None = None,
        platform: Platform | str | None = None,
        blobs: str | os.PathLike[str] | None = None,
        jobs: int = DEFAULT_JOBS,
    ) -> None:
        self.text, self.output, self.platform, self.jobs = ref, output, platform, jobs
        self.client = client or Client()
        self.store = BlobStore(blobs) if blobs is not None else swept(BlobStore(default_cache_dir()))
        self.results: dict[str, Any] = {}
        self.outputs: dict[str, tuple[bool, str]] = {}  # per step run: whether it worked, and its HTML
        self.progress = WidgetProgress()
        self.buttons = [w.Button(description=f"{i + 1}. {name}", disabled=i > 0) for i, name in enumerate(STEPS)]
        for name, button in zip(STEPS, self.buttons, strict=True):
            button.on_click(lambda _, name=name: self._click(name))
        self.view = w.HTML()
        self.widget = w.VBox([w.HBox(self.buttons), self.progress.widget, self.view])

    def _steps(self) -> dict[str, Callable[[], Any]]:
        r, client = self.results, self.client
        return {
            "resolve": lambda: resolve(self.text),
            "token": lambda: get_token(r["resolve"], client=client),
            "manifest": lambda: get_manifest(r["resolve"], token=r["token"], platform=self.platform, client=client),
            "blobs": lambda: fetch_all(
                Repository(client, r["resolve"], token=r["manifest"].token),
                r["manifest"],
                self.store,
                self.jobs,
                self.progress,
            ),
            "assemble": lambda: assemble(r["manifest"], self.store, self.output or default_output(r["resolve"])),
        }

    def _click(self, name: str) -> None:
        with contextlib.suppress(RegkitError):  # shown in the view already; a click has no caller to tell
            self.run(name)

    def _mark(self, name: str, state: str) -> None:
        button = self.buttons[STEPS.index(name)]
        button.button_style, button.icon = _DONE[state]
        button.tooltip = f"{name}: {state}"
        self.progress.step(name, state)

    def _show(self, latest: str) -> None:
        """Every step run so far in order: the latest open, the others folded to one line."""
        parts = []
        for name in STEPS:
            if name not in self.outputs:
                continue
            ok, body = self.outputs[name]
            mark = "✓ done" if ok else "✗ failed"
            summary = f"<summary><strong>{STEPS.index(name) + 1}. {name}</strong>: {mark}</summary>"
            parts.append(f"<details{' open' if name == latest else ''}>{summary}{body}</details>")
        self.view.value = "".join(parts)

    def run(self, name: str) -> Any:
        """Run one step (the previous ones must have run), show its result and enable the next button.

        Parameters
        ----------
        name : {"resolve", "token", "manifest", "blobs", "assemble"}
            The step, as its button names it.

        Returns
        -------
        object
            The step's result: a :class:`Reference`, a :class:`Token`, a :class:`ManifestResult`, a tuple of
            :class:`BlobResult` (config and layers), an :class:`AssembledImage`.

        Raises
        ------
        InvalidOption
            A step before ``name`` has not run yet; run those first.
        RegkitError
            The step failed (as the step's own function raises: ``InvalidReference``, ``AuthError``,
            ``NotFound``, ``TransportError``, ``VerificationError``, ``OutputError``, …); the error is shown
            under the buttons too, and the step can be run again.
        ValueError
            ``name`` is not one of the five steps.
        """
        index = STEPS.index(name)
        if any(step not in self.results for step in STEPS[:index]):
            raise InvalidOption(f"run {', '.join(STEPS[:index])} before {name}")
        self._mark(name, "running")
        if name == "blobs":
            self.progress.bars.children = ()  # a second press draws its own bars, not more of them
        try:
            result = self._steps()[name]()
        except RegkitError as error:
            self._mark(name, "failed")
            self.outputs[name] = False, error._repr_html_()
            self._show(name)
            raise
        self.results[name] = result
        self.outputs[name] = True, _html(result)
        self._mark(name, "done")
        self._show(name)
        if index + 1 < len(STEPS):
            self.buttons[index + 1].disabled = False
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def share(fraction: float) -> str:
    """A share in percent that is never a misleading 0% or 100%: ``<1%``, ``12%``, ``>99%``."""
    if 0 < fraction < 0.01:
        return "<1%"
    if 0.99 < fraction < 1:
        return ">99%"
    return f"{fraction:.0%}"


class LayerExplorer:
    """Pick a layer to see its descriptor, its share of the image and the build step that made it.

    Parameters
    ----------
    manifest : ManifestResult or ImageManifest
        The image's manifest.
    config : mapping, optional
        The image config, for the build steps.
    """

    def __init__(self, manifest: ManifestResult | ImageManifest, config: Mapping[str, Any] | None = None) -> None:
        self.layers = manifest.layers
        self.table = layers_table(manifest, config)
        total = sum(layer.size for layer in self.layers) or 1
        self.shares = [layer.size / total for layer in self.layers]
        options = [(f"{i}: {row['digest']} ({row['size']})", i) for i, row in self.table.iterrows()]
        self.select = w.Dropdown(options=options, description="layer")
        self.view = w.HTML()
        self.select.observe(lambda _: self.show(self.select.value), names="value")
        self.widget = w.VBox([self.select, self.view])
        if self.layers:
            self.show(0)

    def show(self, index: int) -> None:
        """Show layer ``index`` (bottom layer is 0) and select it in the list, so the two always agree.

        Parameters
        ----------
        index : int
            The layer's place in the manifest, from 0 for the bottom layer.

        Raises
        ------
        traitlets.TraitError
            ``index`` is not a layer of the manifest.
        """
        if self.select.value != index:
            self.select.value = index  # its observer calls show again, with the list already on index
            return
        layer, row = self.layers[index], self.table.iloc[index]
        rows = [("digest", layer.digest), ("media type", layer.media_type), ("size", row["size"])]
        rows += [("share of the image", share(self.shares[index])), ("diff_id", row["diff_id"])]
        rows += [("created by", row["created by"]), *sorted(layer.annotations.items())]
        self.view.value = box(f"Layer {index}", facts_table(rows))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
