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
from ..steps.cache import default_cache_dir
from ..steps.manifest_fetch import ManifestResult, get_manifest
from ..steps.progress import Progress
from ..steps.pull import DEFAULT_JOBS, default_output, fetch_all
from ..steps.store import BlobStore
from ..steps.tarball import assemble
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


class PullStepper:
    """A pull as five buttons; each press runs one step and shows its result with its requests and responses."""

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
        self.store = BlobStore(blobs) if blobs is not None else BlobStore(default_cache_dir())
        self.results: dict[str, Any] = {}
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
            "blobs": lambda: fetch_all(client, r["resolve"], r["manifest"], self.store, self.jobs, self.progress),
            "assemble": lambda: assemble(r["manifest"], self.store, self.output or default_output(r["resolve"])),
        }

    def _click(self, name: str) -> None:
        with contextlib.suppress(RegkitError):  # shown in the view already; a click has no caller to tell
            self.run(name)

    def run(self, name: str) -> Any:
        """Run one step (the previous ones must have run), show its result and enable the next button."""
        index = STEPS.index(name)
        if any(step not in self.results for step in STEPS[:index]):
            raise InvalidOption(f"run {', '.join(STEPS[:index])} before {name}")
        self.progress.step(name, "running")
        try:
            result = self._steps()[name]()
        except RegkitError as error:
            self.progress.step(name, "failed")
            self.view.value += error._repr_html_()
            raise
        self.results[name] = result
        self.progress.step(name, "done")
        self.view.value += _html(result)
        if index + 1 < len(STEPS):
            self.buttons[index + 1].disabled = False
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class LayerExplorer:
    """Pick a layer to see its descriptor, its share of the image and the build step that made it."""

    def __init__(self, manifest: ManifestResult | ImageManifest, config: Mapping[str, Any] | None = None) -> None:
        self.layers = manifest.layers
        self.table = layers_table(manifest, config)
        total = sum(layer.size for layer in self.layers) or 1
        self.shares = [layer.size / total for layer in self.layers]
        options = [(f"{i}: {row.digest} ({row.size_human})", i) for i, row in self.table.iterrows()]
        self.select = w.Dropdown(options=options, description="layer")
        self.view = w.HTML()
        self.select.observe(lambda _: self.show(self.select.value), names="value")
        self.widget = w.VBox([self.select, self.view])
        if self.layers:
            self.show(0)

    def show(self, index: int) -> None:
        """Show layer ``index`` (bottom layer is 0)."""
        layer, row = self.layers[index], self.table.iloc[index]
        rows = [("digest", layer.digest), ("media type", layer.media_type), ("size", f"{row.size_human}")]
        rows += [("share of the image", f"{self.shares[index]:.0%}"), ("diff_id", row.diff_id)]
        rows += [("created by", row.created_by), *sorted(layer.annotations.items())]
        self.view.value = box(f"Layer {index}", facts_table(rows))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
