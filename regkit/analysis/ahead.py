"""Layers whose blobs are in the blob cache, listed in worker processes ahead of the merge.

Listing a layer is Python work that the GIL serialises, so when its blob is local it goes to a
process per core; each worker keeps the listing it makes (:mod:`~regkit.analysis.listings`) and the
merge, in layer order, waits for it and reads it back. A worker that fails keeps nothing: the merge
then reads that layer itself and raises what it raises, so errors and budget messages are those of
a sequential analysis. Each worker charges the layer's budgets as reading it would; the image's
budgets are charged by the merge, once a listing is read back.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import cast

from ..http.client import Client
from ..oci.budgets import Budgets, Meter
from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from ..oci.reference import Reference
from ..steps.auth import Token
from ..storage.cache import cached_blob
from . import listings
from .layers import read_layer

Layer = tuple[int, Descriptor, Digest]  # index, descriptor, diff_id


def list_one(layer: Descriptor, diff_id: Digest, index: int, budgets: Budgets | None, cache_dir: Path | None) -> bool:
    """In a worker: list a local layer and keep the listing; False when that failed (the merge reads it again)."""
    meter = Meter(budgets)
    try:
        # The blob is local, so no request is made: the client, reference and token are never used.
        client, ref, token = cast(Client, None), cast(Reference, None), cast(Token, None)
        report = read_layer(client, ref, layer, token, index=index, diff_id=diff_id, meter=meter, cache_dir=cache_dir)
        listing = listings.Listing(report.uncompressed_size, meter.layer_bytes, report.entries)
        listings.save(layer, diff_id, listing, cache_dir)
    except Exception:
        return False
    return True


@contextmanager
def listed_ahead(
    layers: list[Layer], budgets: Budgets | None, cache_dir: Path | None = None
) -> Iterator[Callable[[int], None]]:
    """A ``wait(index)`` that returns once layer ``index`` is listed ahead (or will not be); workers end on leaving."""
    local = [
        (index, layer, diff_id)
        for index, layer, diff_id in layers
        if not listings.listing_path(layer.digest, cache_dir).exists() and cached_blob(layer, cache_dir) is not None
    ]
    workers = min(os.cpu_count() or 1, len(local))
    if workers < 2:
        yield lambda index: None  # the merge lists every layer itself
        return
    # forkserver, not fork: by now this process has threads (the HTTP header deadline's watchdog, a
    # Jupyter kernel's), and a plain fork may copy a lock one of them holds. The server is a fresh
    # interpreter that imports this module once; each worker is a fork of it, so regkit is not
    # imported again per worker as with spawn.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures: dict[int, Future[bool]] = {
            index: pool.submit(list_one, layer, diff_id, index, budgets, cache_dir) for index, layer, diff_id in local
        }

        def wait(index: int) -> None:
            future = futures.pop(index, None)
            if future is not None:
                with suppress(Exception):  # a broken pool: the merge reads the layer itself
                    future.result()

        try:
            yield wait
        finally:
            for future in futures.values():
                future.cancel()
