"""What merging an image's layers gave, kept in the blob cache by the chain of layers that made it.

Merging is most of an analysis' work once the layers are listed: a node or a number per path, and
whiteouts walked. Its results — each layer's changes, the waste, the unsafe entries, the bytes
written, the duplicates, what the layers and paths charged to the budgets — depend only on the
layers, bottom to top. So they are kept under a key made of that chain (every layer's digest and
``diff_id``, as a ChainID is made of ``diff_id`` s), at ``<cache>/merged/sha256/<key>``, and any
image with the same layers reads them back, charging the budgets what merging charged.
The file is one header line (format and a CRC-32 of the rest) and :mod:`marshal` data; files enter
by atomic rename, and one that does not check out is ignored, as a listing is.
"""

from __future__ import annotations

import hashlib
import marshal
import zlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from ..oci.digest import Digest
from ..storage.cache import default_cache_dir
from ..storage.output import keep_file
from .filesystem import LayerChange, Unsafe, Waste

FORMAT = b"regkit-merged-1"
Duplicate = tuple[str, int, list[tuple[int, str]]]


@dataclass(frozen=True)
class LayerCost:
    """What reading one layer gave and charged: its tar's bytes, bytes charged, entries, regular files, content."""

    uncompressed: int
    charged: int
    entries: int
    files: int
    content: int


@dataclass(frozen=True)
class Merged:
    """The merged tree's results without the tree: changes, waste, unsafe entries, duplicates, costs.

    Attributes
    ----------
    changes : tuple of LayerChange
        Per layer, what it did to the tree beneath it.
    waste : tuple of Waste
        Files whose bytes a higher layer overwrote or deleted, in the order merging found them.
    unsafe : tuple of Unsafe
        Entries left out of the tree (absolute paths, ``..``, NUL).
    written_bytes : int
        Regular-file bytes of all layers.
    duplicates : list
        ``(sha256, size, [(layer, path), …])`` of contents stored more than once, largest first.
    layers : tuple of LayerCost
        Each layer's sizes and what it charged to the budgets.
    path_bytes : int
        What the tree's paths charged to the ``path_bytes`` budget.
    """

    changes: tuple[LayerChange, ...]
    waste: tuple[Waste, ...]
    unsafe: tuple[Unsafe, ...]
    written_bytes: int
    duplicates: list[Duplicate]
    layers: tuple[LayerCost, ...]
    path_bytes: int


def chain_key(layers: Sequence[tuple[Digest, Digest]]) -> str:
    """The hex key of a chain of ``(layer digest, diff_id)``, bottom first."""
    chain = "\n".join(f"{digest} {diff_id}" for digest, diff_id in layers)
    return hashlib.sha256(chain.encode()).hexdigest()


def merged_path(key: str, cache_dir: Path | None = None) -> Path:
    """Where the results of the chain ``key`` are kept."""
    return (cache_dir or default_cache_dir()) / "merged" / "sha256" / key


def _plain(merged: Merged) -> tuple[Any, ...]:
    return (
        [astuple(change) for change in merged.changes],
        [tuple(waste) for waste in merged.waste],
        [tuple(unsafe) for unsafe in merged.unsafe],
        merged.written_bytes,
        merged.duplicates,
        [astuple(cost) for cost in merged.layers],
        merged.path_bytes,
    )


def load(key: str, cache_dir: Path | None = None) -> Merged | None:
    """The kept results of the chain ``key``, or None when there are none (or they do not check out)."""
    try:
        data = merged_path(key, cache_dir).read_bytes()
    except OSError:
        return None
    head, _, body = data.partition(b"\n")
    fields = head.split(b" ")
    if len(fields) != 2 or fields[0] != FORMAT or fields[1] != b"%d" % zlib.crc32(body):
        return None
    try:
        changes, waste, unsafe, written, duplicates, layers, path_bytes = marshal.loads(body)
        return Merged(
            tuple(LayerChange(*change) for change in changes),
            tuple(Waste(*item) for item in waste),
            tuple(Unsafe(*item) for item in unsafe),
            written,
            duplicates,
            tuple(LayerCost(*cost) for cost in layers),
            path_bytes,
        )
    except (ValueError, EOFError, TypeError):
        return None


def save(key: str, merged: Merged, cache_dir: Path | None = None) -> None:
    """Keep ``merged`` under ``key``; a cache that cannot be written is left as it is (it only saves time)."""
    body = marshal.dumps(_plain(merged))
    keep_file(merged_path(key, cache_dir), [b"%s %d\n" % (FORMAT, zlib.crc32(body)), body])
