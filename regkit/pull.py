"""``pull``: the five steps composed, with concurrent blob downloads."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .auth import Token, get_token
from .blobs import BlobResult, fetch_blob
from .budgets import Budgets
from .client import AuthArg, Client, as_reference
from .endpoints import Endpoints
from .errors import Cancelled, InvalidOption, OutputError
from .exchange import Exchange
from .manifest import Descriptor
from .manifests import ManifestResult, get_manifest
from .platform import Platform
from .progress import Progress
from .ratelimit import RateLimit, budget
from .reference import Reference
from .store import BlobStore
from .tarball import AssembledImage, assemble, check_output_options

DEFAULT_JOBS = 3  # the Docker engine's default max-concurrent-downloads


@dataclass(frozen=True)
class PullResult:
    """Everything a pull did: each step's result and every exchange, in order."""

    reference: Reference
    token: Token
    manifest: ManifestResult
    blobs: tuple[BlobResult, ...]
    image: AssembledImage
    exchanges: tuple[Exchange, ...] = field(repr=False)
    seconds: float

    @property
    def rate_limit(self) -> tuple[RateLimit | None, RateLimit | None]:
        """The pull budget the registry announced before and after this pull (None where it said nothing)."""
        return budget(self.exchanges)

    @property
    def downloaded_bytes(self) -> int:
        """Bytes of blobs fetched over the network (cached ones excluded)."""
        return sum(b.size for b in self.blobs if not b.cached)

    def _repr_html_(self) -> str:
        from .display.html import pull_html

        return pull_html(self)


def default_output(ref: Reference, format: str = "docker") -> Path:
    """``busybox_latest.tar`` (or ``…_sha256-<12 hex>``) in the current directory."""
    name = ref.repository.rsplit("/", 1)[-1]
    version = ref.tag if ref.tag and not ref.digest else f"{ref.digest.algorithm}-{ref.digest.short}"  # type: ignore[union-attr]
    suffix = ".oci.tar" if format == "oci" else ".tar"
    return Path(f"{name}_{version}{suffix}")


def pull(
    ref: Reference | str,
    output: str | os.PathLike[str] | None = None,
    *,
    platform: Platform | str | None = None,
    format: str = "docker",
    layer_format: str = "auto",
    jobs: int = DEFAULT_JOBS,
    client: Client | None = None,
    auth: AuthArg = None,
    insecure: bool = False,
    endpoints: Endpoints | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    budgets: Budgets | None = None,
) -> PullResult:
    """Resolve, authenticate, fetch the manifest and blobs, and write a ``docker load``-able image.

    ``budgets`` bounds the uncompressed bytes of layers converted to another compression.
    """
    # Every input is checked before the first request, so a typo never costs a download.
    if not isinstance(jobs, int) or jobs < 1:
        raise InvalidOption(f"jobs must be a whole number of at least 1, not {jobs!r}")
    check_output_options(format, layer_format)
    platform = Platform.parse(platform) if isinstance(platform, str) else platform
    started = time.perf_counter()
    ref = as_reference(ref)
    progress = progress or Progress()
    client = client or Client(auth=auth, insecure=insecure, endpoints=endpoints, pool_size=max(jobs, 4) * 2)
    target = Path(output) if output is not None else default_output(ref, format)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # before any request: a bad path costs no download
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {target.parent}: {exc.strerror or exc}") from None
    first = len(client.transcript)

    progress.step("resolve", str(ref))
    token = get_token(ref, client=client)
    progress.step(
        "token", "anonymous access" if token.kind == "none" else f"{token.kind} token for {token.scope or ref.registry}"
    )
    manifest = get_manifest(ref, token=token, platform=platform, client=client)
    chosen = f" for {manifest.platform}" if manifest.platform else ""
    progress.step(
        "manifest", f"{manifest.digest}{chosen}, {len(manifest.layers)} layers, {manifest.manifest.total_size} bytes"
    )

    try:
        work = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix=".regkit-", dir=target.parent.resolve()))
    except OSError as exc:
        raise OutputError(f"cannot create a work directory beside {target}: {exc.strerror or exc}") from None
    try:
        store = BlobStore(work, trusted=not cache_dir)
        blobs = fetch_all(client, ref, manifest, store, jobs, progress)
        progress.step("assemble", f"writing {target}")
        image = assemble(manifest, store, target, format=format, layer_format=layer_format, budgets=budgets)
    finally:
        if not cache_dir:
            shutil.rmtree(work, ignore_errors=True)
    exchanges = tuple(list(client.transcript)[first:])
    return PullResult(ref, manifest.token, manifest, blobs, image, exchanges, time.perf_counter() - started)


def fetch_all(
    client: Client, ref: Reference, manifest: ManifestResult, store: BlobStore, jobs: int, progress: Progress
) -> tuple[BlobResult, ...]:
    """Fetch the config and each distinct layer, ``jobs`` at a time; the first failure cancels the rest."""
    wanted: dict[str, tuple[Descriptor, str]] = {}
    wanted[str(manifest.config.digest)] = (manifest.config, "config")
    for i, layer in enumerate(manifest.layers):
        wanted.setdefault(str(layer.digest), (layer, f"layer {i + 1}/{len(manifest.layers)}"))
    stop = threading.Event()

    def one(descriptor: Descriptor, label: str) -> BlobResult:
        def advance(count: int) -> None:
            if stop.is_set():  # raising here unwinds the download and removes its partial file
                raise Cancelled("download cancelled")
            progress.advance(descriptor, count)

        progress.begin(descriptor, label)
        result = fetch_blob(ref, descriptor, store, token=manifest.token, client=client, progress=advance)
        progress.end(descriptor)
        return result

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="regkit-blob") as pool:
            futures = [pool.submit(one, d, label) for d, label in wanted.values()]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
            except BaseException:
                # A failure or Ctrl-C: every other download gives up now, even one blocked on a read,
                # so the pool's threads end and the partial files are removed.
                stop.set()
                for future in futures:
                    future.cancel()
                client.abort()
                raise
    finally:
        client.clear_abort()  # the pool has joined: the client can be used again
    return tuple(f.result() for f in futures)
