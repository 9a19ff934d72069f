"""pandas tables of a manifest's layers and of exchanges; no I/O (the caller reads the config blob).

pandas is imported by this module only, which nothing in regkit imports at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from ..export import to_dataframe
from .html import human_size

if TYPE_CHECKING:
    from ..exchange import Exchange
    from ..manifest import ImageManifest
    from ..manifests import ManifestResult

LAYER_COLUMNS = ("digest", "media_type", "size", "size_human", "diff_id", "created_by")


def _short(digest: str) -> str:
    """The first 12 hex digits of ``algorithm:hex``, as :attr:`regkit.Digest.short` and Docker show them."""
    return digest.partition(":")[2][:12] or digest[:12]


def layer_history(config: Mapping[str, Any]) -> list[str]:
    """The ``created_by`` of each history entry that made a layer (empty-layer entries left out)."""
    history = config.get("history")
    if not isinstance(history, list):
        return []
    entries = [h for h in history if isinstance(h, dict) and not h.get("empty_layer")]
    return [str(h.get("created_by", "")) for h in entries]


def _diff_ids(config: Mapping[str, Any]) -> list[str]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [str(d) for d in ids] if isinstance(ids, list) else []


def layers_table(manifest: ManifestResult | ImageManifest, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per layer, bottom first: digest, media type, size, and diff_id and created_by from ``config``."""
    history, diff_ids = layer_history(config or {}), _diff_ids(config or {})
    rows = [
        {
            "digest": layer.digest.short,
            "media_type": layer.media_type,
            "size": layer.size,
            "size_human": human_size(layer.size),
            "diff_id": _short(diff_ids[i]) if i < len(diff_ids) else "",
            "created_by": history[i] if i < len(history) else "",
        }
        for i, layer in enumerate(manifest.layers)
    ]
    frame = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    frame.index.name = "layer"
    return frame


def exchanges_table(exchanges: Sequence[Exchange]) -> pd.DataFrame:
    """One row per exchange, for reading: step, status, host and path, timings in ms, size received."""
    frame = to_dataframe(exchanges)
    urls = frame["url"].map(urlsplit)
    return pd.DataFrame(
        {
            "step": frame["step"],
            "method": frame["method"],
            "status": frame["status"].astype("Int64"),
            "host": urls.map(lambda u: u.netloc),
            "path": urls.map(lambda u: u.path),
            "start_ms": (frame["start"] * 1000).round(1),
            "headers_ms": (frame["time_to_headers"] * 1000).round(1),
            "total_ms": (frame["total_time"] * 1000).round(1),
            "received": frame["bytes_received"].map(human_size),
            "note": frame["note"].where(frame["error"].isna(), frame["error"]),
        }
    )
