"""pandas tables of a manifest's layers and of exchanges; no I/O (the caller reads the config blob).

pandas is imported by this module only, which nothing in regkit imports at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from ..analysis.image import history_steps, layer_steps
from ..errors import InvalidReference
from ..http.formats import to_dataframe
from ..oci.digest import Digest
from .html import human_size
from .timeline import Timeline

if TYPE_CHECKING:
    from ..http.exchange import Exchange
    from ..oci.manifest import ImageManifest
    from ..steps.manifest_fetch import ManifestResult

# Headers for reading (they are what a notebook shows); ``bytes`` is the number to compute with.
LAYER_COLUMNS = ("digest", "media type", "bytes", "size", "diff_id", "created by")
# A history entry's ``created`` that says "no date" (reproducible builds set the epoch): shown blank.
NO_DATE = ("", "1970-01-01T00:00:00Z")


def _diff_ids(config: Mapping[str, Any]) -> list[Digest | None]:
    """The config's ``rootfs.diff_ids`` as far as they read, None for an entry that is not a digest.

    :func:`regkit.oci.manifest.config_diff_ids` is the reader for pulling and analysing: it refuses a
    config whose diff_ids are missing, malformed or not one per layer. A table is for looking at an
    image, a broken one included, so this reader keeps what it can and leaves the rest blank.
    """
    rootfs = config.get("rootfs")
    raw = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    ids: list[Digest | None] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            ids.append(Digest.parse(item))
        except InvalidReference:
            ids.append(None)
    return ids


def layers_table(manifest: ManifestResult | ImageManifest, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per layer, bottom first: digest, media type, size, and diff_id and created_by from ``config``."""
    config = config or {}
    steps = layer_steps(history_steps(config, len(manifest.layers)))
    diff_ids = [digest.short if digest else "" for digest in _diff_ids(config)]
    rows = [
        {
            "digest": layer.digest.short,
            "media type": layer.media_type,
            "bytes": layer.size,
            "size": human_size(layer.size),
            "diff_id": diff_ids[i] if i < len(diff_ids) else "",
            "created by": steps.get(i, ""),
        }
        for i, layer in enumerate(manifest.layers)
    ]
    frame = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    frame.index.name = "layer"
    return frame


def history_table(config: Mapping[str, Any]) -> pd.DataFrame:
    """The config's build history, one row per step: when (blank if undated), what, and whether it made a layer."""
    history = config.get("history")
    entries = [e for e in history if isinstance(e, Mapping)] if isinstance(history, list) else []
    rows = [
        {
            "created": "" if str(e.get("created") or "") in NO_DATE else str(e["created"]),
            "created by": str(e.get("created_by") or ""),
            "makes a layer": "no" if e.get("empty_layer") is True else "yes",
            "comment": str(e.get("comment") or ""),
        }
        for e in entries
    ]
    frame = pd.DataFrame(rows, columns=["created", "created by", "makes a layer", "comment"])
    frame.index.name = "step"
    return frame


def exchanges_table(exchanges: Sequence[Exchange]) -> pd.DataFrame:
    """One row per exchange, for reading: step, status, host and path, timings in ms, size received.

    A request that got no answer has the status ``failed`` and its error as the note (not ``<NA>``).
    ``start_ms`` is protocol time (:mod:`regkit.display.timeline`): idle gaps over a second are cut.
    """
    frame = to_dataframe(exchanges)
    urls = frame["url"].map(urlsplit)
    # Protocol time, as the charts draw it: a reader's pause between two cells is not request time.
    timeline = Timeline.of(exchanges)
    return pd.DataFrame(
        {
            "step": frame["step"],
            "method": frame["method"],
            "status": frame["status"].map(lambda status: "failed" if pd.isna(status) else int(status)),
            "host": urls.map(lambda u: u.netloc),
            "path": urls.map(lambda u: u.path),
            "start_ms": [round(timeline(exchange.started) * 1000, 1) for exchange in exchanges],
            "headers_ms": (frame["time_to_headers"] * 1000).round(1),
            "total_ms": (frame["total_time"] * 1000).round(1),
            "received": frame["bytes_received"].map(human_size),
            "note": frame["note"].where(frame["error"].isna(), frame["error"]),
        }
    )
