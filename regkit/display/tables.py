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

if TYPE_CHECKING:
    from ..http.exchange import Exchange
    from ..oci.manifest import ImageManifest
    from ..steps.manifest_fetch import ManifestResult

LAYER_COLUMNS = ("digest", "media_type", "size", "size_human", "diff_id", "created_by")


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
            "media_type": layer.media_type,
            "size": layer.size,
            "size_human": human_size(layer.size),
            "diff_id": diff_ids[i] if i < len(diff_ids) else "",
            "created_by": steps.get(i, ""),
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
