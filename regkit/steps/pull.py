"""``pull``: the five steps composed, with concurrent blob downloads."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._repr import HtmlRepr
from ..errors import Cancelled, InvalidOption, OutputError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.mirrors import Mirrors, first_answer
from ..http.ratelimit import RateLimit, budget
from ..oci.budgets import Budgets
from ..oci.digest import Digest, Verifier
from ..oci.manifest import Descriptor, check_config_size
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..storage.cache import cache_warning, open_cache
from ..storage.output import check_target, make_work_dir, work_name
from ..storage.places import Place, TarPlace, enter_cache
from ..storage.store import BlobStore
from .auth import Token
from .blobs import BlobResult
from .manifest_fetch import ManifestResult
from .progress import Progress
from .repository import Repository
from .tarball import (
    AssembledImage,
    Finished,
    assemble,
    assembled,
    blob_name,
    check_output_options,
    is_tar,
    needs_conversion,
    output_key,
    placed_output,
)

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack

DEFAULT_JOBS = 3  # the Docker engine's default max-concurrent-downloads
# What a file system says when it takes no more: full, over quota, read-only, not permitted.
_REFUSED = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)

# Fetches one blob (reporting bytes as they arrive) and says where it is and how it came.
Fetch = Callable[[Descriptor, Callable[[int], None]], BlobResult]


@dataclass(frozen=True)
class PullResult(HtmlRepr):
    """Everything a pull did: each step's result and every exchange, in order.

    Attributes
    ----------
    reference : Reference
        The image pulled.
    token : Token
        The token used.
    manifest : ManifestResult
        The manifest step's result.
    blobs : tuple of BlobResult
        The config and each layer, downloaded or from the cache.
    image : AssembledImage
        The image written.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    seconds : float
        The pull's duration.
    answered_by : str
        The mirror (or the registry) that answered, when mirrors were tried.
    """

    reference: Reference
    token: Token
    manifest: ManifestResult
    blobs: tuple[BlobResult, ...]
    image: AssembledImage
    exchanges: tuple[Exchange, ...] = field(repr=False)
    seconds: float
    answered_by: str = ""  # the mirror (or the registry) that answered, when mirrors were tried

    @property
    def rate_limit(self) -> tuple[RateLimit | None, RateLimit | None]:
        """The pull budget the registry announced before and after this pull (None where it said nothing)."""
        return budget(self.exchanges)

    @property
    def cached_blobs(self) -> tuple[BlobResult, ...]:
        """The blobs taken from the cache instead of the network."""
        return tuple(b for b in self.blobs if b.cached)

    @property
    def downloaded_bytes(self) -> int:
        """Bytes of blobs fetched over the network (cached ones excluded)."""
        return sum(b.size for b in self.blobs if not b.cached)


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
    cache_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    progress: Progress | None = None,
    mirrors: Mirrors | None = None,
    budgets: Budgets | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> PullResult:
    """Resolve, authenticate, fetch the manifest and blobs, and write a ``docker load``-able image.

    With ``mirrors``, a Docker Hub name is tried on each mirror in turn and then on Docker Hub
    (see :mod:`regkit.http.mirrors`); the blobs come from the one that answered the manifest.
    Blobs come from the blob cache when it holds them and are written once, straight into the
    output; downloaded ones enter the cache after their digest is checked.

    Parameters
    ----------
    ref : Reference or str
        The image, by tag or digest.
    output : str or os.PathLike, optional
        The file (or OCI layout) to write; default a name made from the reference in the current directory.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    format : {"docker", "oci"}, default "docker"
        What ``docker save`` writes, or an OCI image layout (a tar if ``output`` ends in ``.tar``).
    layer_format : {"auto", "gzip", "tar", "keep"}, default "auto"
        Which layers to convert: ``auto`` turns zstd into tar for the docker format.
    jobs : int, default 3
        Blobs downloaded at a time.
    cache_dir : str or os.PathLike, optional
        The blob cache; default :func:`~regkit.storage.cache.default_cache_dir`. An unusable default cache is
        a :class:`~regkit.errors.CacheWarning` and the pull goes on without one.
    cache : bool, default True
        False neither reads nor fills the cache.
    progress : Progress, optional
        Told of each step and each blob's bytes (:class:`BarProgress` draws bars).
    mirrors : Mirrors, optional
        Mirrors for Docker Hub names, tried in order like the engine's ``registry-mirrors``.
    budgets : Budgets, optional
        Bounds the uncompressed bytes of layers converted to another compression.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (``endpoints``, ``insecure``, ``auth``,
        ``timeout``, ``docker_config``, ``retry``, ``transport``, ``speed_limit``, ``ca_cert``; see
        :class:`Client`). Not together with ``client``.

    Returns
    -------
    PullResult
        The reference, token, manifest, blobs, written image and every exchange, with the time taken.

    Raises
    ------
    NoMatchingPlatform
        An index without an image for ``platform``.
    VerificationError
        A blob's bytes do not match its digest or size; no partial output is left.
    OutputError
        The output cannot be written.
    InvalidOption
        A ``cache_dir`` that cannot be used.
    Cancelled
        The pull was interrupted, or given up after another download failed.
    RegistryError
        The registry (or a box in between) answered, but not as the protocol promises: ``AuthError``,
        ``NotFound``, ``ManifestError``, ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    # Every input is checked before the first request, so a typo never costs a download.
    if not isinstance(jobs, int) or jobs < 1:
        raise InvalidOption(f"jobs must be a whole number of at least 1, not {jobs!r}")
    check_output_options(format, layer_format)
    platform = Platform.parse(platform) if isinstance(platform, str) else platform
    started = time.perf_counter()
    ref = as_reference(ref)
    progress = progress or Progress()
    target = check_target(output if output is not None else default_output(ref, format))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # before any request: a bad path costs no download
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {target.parent}: {exc.strerror or exc}") from None
    blob_cache = open_cache(cache_dir, enabled=cache)  # an explicit cache_dir that cannot be used is refused here
    with client_for(client, options, pool_size=max(jobs, 4) * 2) as session:
        settings = _Settings(
            target, platform, format, layer_format, jobs, blob_cache, progress, mirrors or Mirrors(), budgets
        )
        return _pull(Repository(session, ref), settings, started)


@dataclass(frozen=True)
class _Settings:
    """What one pull was asked to do, checked: where, which platform, in which format, how."""

    target: Path
    platform: Platform | None
    format: str
    layer_format: str
    jobs: int
    cache: BlobStore | None
    progress: Progress
    mirrors: Mirrors
    budgets: Budgets | None


def _pull(repo: Repository, settings: _Settings, started: float) -> PullResult:
    ref = repo.reference
    target, format, layer_format = settings.target, settings.format, settings.layer_format
    jobs, blob_cache, progress, mirrors = settings.jobs, settings.cache, settings.progress, settings.mirrors

    progress.step("resolve", str(ref))

    def discover(route: Client) -> ManifestResult:
        repo.client = route  # this pull's own handle follows the route; the caller's client stays as it is
        repo.drop_token()  # a token from a route that failed belongs to that route's registry
        token = repo.token()
        progress.step("token", token_summary(token, ref))
        return repo.manifest(settings.platform)

    # Like the engine, a mirror that fails before the manifest is passed over for the next route; the
    # route that answers serves the blobs.
    manifest = first_answer(repo.client, ref, mirrors, discover)
    client = repo.client
    answered_by = client.endpoints.registry_base(ref) if mirrors.urls else ""
    chosen = f" for {manifest.platform}" if manifest.platform else ""
    progress.step(
        "manifest", f"{manifest.digest}{chosen}, {len(manifest.layers)} layers, {manifest.manifest.total_size} bytes"
    )
    if needs_conversion(manifest, format, layer_format):
        blobs, image = _stored_then_converted(repo, manifest, settings)
    else:
        key = output_key(manifest, format) if blob_cache is not None and is_tar(target, format) else ""
        linked = _linked_whole(blob_cache, key, target) if key else None
        if linked is not None:
            blobs = tuple(BlobResult(d, linked, (), 0.0, cached=True) for d, _ in _distinct_blobs(manifest))
            progress.step("assemble", f"wrote {target} (a link to the cache's copy of this very output)")
        else:
            downloaded: dict[Digest, Place] = {}
            with placed_output(manifest, target, format, _cache_filler(blob_cache, downloaded, key)) as places:
                fetch = _into_place(repo, places, blob_cache, target, downloaded)
                blobs = _concurrently(manifest, jobs, progress, client, fetch)
            progress.step("assemble", f"wrote {target}")
        image = assembled(
            manifest.manifest,
            manifest.reference,
            target,
            format,
            manifest.manifest.raw,
            list(manifest.layers),
            None,
            [],
        )
    progress.step("done", f"wrote {target} in {time.perf_counter() - started:.2f} s")  # the last line says so
    seconds = time.perf_counter() - started
    return PullResult(ref, manifest.token, manifest, blobs, image, repo.exchanges, seconds, answered_by)


def token_summary(token: Token, ref: Reference) -> str:
    """What the token step found, in words: a 429 or 5xx on the probe is no proof of anonymous access."""
    if token.kind != "none":
        return f"{token.kind} token for {token.scope or ref.registry}"
    probe = token.exchanges[0] if token.exchanges else None
    if probe is not None and probe.status is not None and probe.status >= 400 and probe.status != 404:
        return f"no challenge: the probe was answered {probe.status} {probe.reason}".rstrip()
    return "anonymous access"


def _into_place(
    repo: Repository,
    places: dict[Digest, Place],
    cache: BlobStore | None,
    target: Path,
    downloaded: dict[Digest, Place],
) -> Fetch:
    """Each blob straight into its place in the output: from the cache when it holds it, else downloaded
    (and noted in ``downloaded``, to enter the cache when the output is complete)."""

    def fetch(descriptor: Descriptor, advance: Callable[[int], None]) -> BlobResult:
        place = places[descriptor.digest]
        found = cache.locate(descriptor.digest, descriptor.size) if cache is not None else None
        if found is not None:
            try:
                place.fill_from(found)
                return BlobResult(descriptor, found[0], (), 0.0, cached=True)
            except OSError:
                pass  # pruned since, or made unreadable (a pack is also someone's output): download it
        start = time.perf_counter()
        with place.writer() as handle:
            verifier = Verifier(descriptor.digest, descriptor.size, "blob")
            exchanges = repo.download(descriptor, handle, verifier, advance)
        downloaded[descriptor.digest] = place
        shown = target if isinstance(place, TarPlace) else target / blob_name(descriptor.digest)
        return BlobResult(descriptor, shown, exchanges, time.perf_counter() - start)

    return fetch


def _cache_filler(cache: BlobStore | None, downloaded: dict[Digest, Place], key: str) -> Finished | None:
    """What enters the downloaded blobs into the cache once the output is complete (None without a cache)."""
    if cache is None:
        return None

    def fill(output: Path) -> None:
        # a cache that filled up or turned read-only costs the next pull a download, never this pull
        try:
            enter_cache(cache, output, downloaded, key)
        except (OSError, OutputError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            cache_warning(cache.root, reason, "this pull's blobs were not entered (the output is complete)")

    return fill


def _linked_whole(cache: BlobStore | None, key: str, target: Path) -> Path | None:
    """Make ``target`` a name of the cached pack that is exactly this output, when there is one: nothing is
    written. Returns the pack, or None (no such pack, another output's file, or the link failed: the caller
    writes the output)."""
    found = cache.packs.whole_output(key) if cache is not None else None
    if found is None:
        return None
    pack, stat = found
    try:
        if os.path.samefile(target, pack):
            return pack  # the output is already this very image, unchanged since it was verified
    except OSError:
        pass  # no output there yet
    if stat.st_nlink != 1:
        return None  # another output's file: two outputs never share one
    tmp = work_name(target.parent)
    try:
        os.link(pack, tmp)
        # Another pull may have linked it at the same moment: then neither keeps the link (no shared outputs).
        if tmp.stat().st_nlink != 2:
            raise FileExistsError(tmp)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return pack


def _distinct_blobs(manifest: ManifestResult) -> list[tuple[Descriptor, str]]:
    """The config, then each layer once (an image may use a layer twice), in manifest order, with a label."""
    wanted: dict[Digest, tuple[Descriptor, str]] = {manifest.config.digest: (manifest.config, "config")}
    for i, layer in enumerate(manifest.layers):
        wanted.setdefault(layer.digest, (layer, f"layer {i + 1}/{len(manifest.layers)}"))
    return list(wanted.values())


def _stored_then_converted(
    repo: Repository, manifest: ManifestResult, settings: _Settings
) -> tuple[tuple[BlobResult, ...], AssembledImage]:
    """Layers to re-compress: every blob into a store (the cache, else a temporary one), then :func:`assemble`.

    A cache that fills up (or turns read-only) on the way is reported, and the pull starts over in a
    temporary store beside the output.
    """

    target, cache, progress = settings.target, settings.cache, settings.progress

    def converted_in(store: BlobStore) -> tuple[tuple[BlobResult, ...], AssembledImage]:
        blobs = fetch_all(repo, manifest, store, settings.jobs, progress)
        progress.step("assemble", f"writing {target}")
        return blobs, assemble(
            manifest,
            store,
            target,
            format=settings.format,
            layer_format=settings.layer_format,
            budgets=settings.budgets,
        )

    if cache is not None:
        try:
            return converted_in(cache)
        except OutputError as exc:
            cause = exc.__cause__
            # only a write into the cache's own folders that the file system refused
            if not (isinstance(cause, OSError) and cause.errno in _REFUSED and str(cache.root) in exc.message):
                raise
            instead = "this pull converts in a temporary folder beside the output, downloading its blobs again"
            cache_warning(cache.root, cause.strerror or str(cause), instead)
    work = make_work_dir(target.parent)
    try:
        return converted_in(BlobStore(work, trusted=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_all(
    repo: Repository, manifest: ManifestResult, store: BlobStore, jobs: int, progress: Progress
) -> tuple[BlobResult, ...]:
    """Fetch the config and each distinct layer into ``store``, ``jobs`` at a time."""

    def fetch(descriptor: Descriptor, advance: Callable[[int], None]) -> BlobResult:
        return repo.blob(descriptor, store, progress=advance)

    return _concurrently(manifest, jobs, progress, repo.client, fetch)


def _concurrently(
    manifest: ManifestResult, jobs: int, progress: Progress, client: Client, fetch: Fetch
) -> tuple[BlobResult, ...]:
    """``fetch`` the config and each distinct layer, ``jobs`` at a time; the first failure cancels the rest."""
    check_config_size(manifest.config)  # from the descriptor: a hostile size costs no download
    wanted = _distinct_blobs(manifest)
    stop = threading.Event()

    def one(descriptor: Descriptor, label: str) -> BlobResult:
        def advance(count: int) -> None:
            if stop.is_set():  # raising here unwinds the download and removes its partial file
                raise Cancelled("download cancelled")
            progress.advance(descriptor, count)

        progress.begin(descriptor, label)
        result = fetch(descriptor, advance)
        progress.end(descriptor)
        return result

    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="regkit-blob") as pool:
            futures = [pool.submit(one, d, label) for d, label in wanted]
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
