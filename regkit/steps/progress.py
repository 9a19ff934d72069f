"""Progress reporting for pulls: a silent base class and a tqdm one for terminals and notebooks."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from ..oci.manifest import Descriptor


class Progress:
    """Receives pull events; the base class ignores them all."""

    def step(self, name: str, detail: str) -> None:
        """A step started (``token``, ``manifest``, ``blobs``, ``assemble``).

        Parameters
        ----------
        name : str
            The step.
        detail : str
            One line on what it does.
        """

    def begin(self, descriptor: Descriptor, label: str) -> None:
        """A blob download starts.

        Parameters
        ----------
        descriptor : Descriptor
            The blob; its ``size`` is the total to expect.
        label : str
            A short name for it (``config``, ``layer 1/3``).
        """

    def advance(self, descriptor: Descriptor, count: int) -> None:
        """``count`` more bytes of the blob arrived.

        Parameters
        ----------
        descriptor : Descriptor
            The blob, as given to :meth:`begin`.
        count : int
            The bytes that arrived since the last call.
        """

    def end(self, descriptor: Descriptor) -> None:
        """The blob is complete and verified (or was already there).

        Parameters
        ----------
        descriptor : Descriptor
            The blob, as given to :meth:`begin`.
        """


class BarProgress(Progress):
    """One tqdm bar per blob (``tqdm.auto``: a widget in Jupyter, text elsewhere) and step lines.

    Parameters
    ----------
    stream : file-like, optional
        Where the step lines and text bars go; default ``sys.stderr``.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        from tqdm.auto import tqdm  # imported on use: the library must not pay for it

        self._tqdm = tqdm
        self.stream = stream or sys.stderr
        self._bars: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def step(self, name: str, detail: str) -> None:
        self._tqdm.write(f"{name}: {detail}", file=self.stream)

    def begin(self, descriptor: Descriptor, label: str) -> None:
        with self._lock:
            self._bars[descriptor.digest] = self._tqdm(
                total=descriptor.size,
                desc=label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stream,
                leave=True,
                position=len(self._bars),
                # In a terminal, no bars when stderr is not a tty (CI logs); a notebook's stderr never
                # is one, yet its widget bars are exactly what should show there.
                disable=False if self._tqdm.__module__ == "tqdm.notebook" else None,
            )

    def advance(self, descriptor: Descriptor, count: int) -> None:
        bar = self._bars.get(descriptor.digest)
        if bar is not None:
            bar.update(count)

    def end(self, descriptor: Descriptor) -> None:
        with self._lock:
            bar = self._bars.get(descriptor.digest)
        if bar is not None:
            bar.n = descriptor.size
            bar.close()
