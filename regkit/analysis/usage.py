"""What each tag of a repository costs: bytes it shares with other tags, and bytes only it keeps alive.

A registry stores each blob once per repository (manifests are blobs too), and its garbage collection keeps
exactly what a tag still reaches: tag → manifest → (index → child manifests →) config and layers. So the
bytes **unique** to a tag — reached from it and from no other tag — are what deleting that tag alone (and
collecting the untagged manifests) frees; the rest it **shares**. Subjects do not keep anything alive:
an artifact stays while a tag (such as its referrers fallback tag) reaches it.

The scan is manifest work only, concurrent on any :class:`concurrent.futures.Executor`: a ``HEAD`` per tag
learns its digest, and each distinct manifest is fetched once (``GET``, verified), children of indexes
included; only digests and sizes are kept, never manifest bodies.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .._repr import HtmlRepr
from ..errors import InvalidReference, ManifestError, UsageError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..oci import mediatypes as mt
from ..oci.budget_options import MAX_NAMES
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest, Index
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..steps.auth import Token, probe_token
from ..steps.fetcher import Fetcher
from ..steps.listing import TAGS, list_names
from ..steps.manifest_fetch import wanted_platform

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

JOBS = 8  # concurrent manifest requests when no executor is given
MAX_NESTING = 3  # indexes inside indexes followed this deep
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ManifestNode:
    """One manifest as the scan keeps it: digest, size, and what it points to (no body)."""

    digest: Digest
    size: int
    media_type: str
    blobs: tuple[Descriptor, ...] = ()  # an image's config and layers
    children: tuple[Descriptor, ...] = ()  # an index's entries

    @property
    def is_index(self) -> bool:
        """True for an index or manifest list."""
        return self.media_type in mt.INDEXES


@dataclass(frozen=True)
class RepositoryUsage(HtmlRepr):
    """Tags, the manifests they reach, and what each blob is shared by; see the module docstring.

    Attributes
    ----------
    reference : Reference
        The repository scanned.
    tags : dict of str to Digest
        Each tag scanned and the digest it points to, in listing order.
    manifests : dict of Digest to ManifestNode
        Every manifest the tags reach, children of indexes included.
    platform : Platform or None
        The platform whose rows are shown; None: every platform.
    exchanges : tuple of Exchange
        Every request made.
    """

    reference: Reference
    tags: dict[str, Digest]  # tag -> the digest it points to, in listing order
    manifests: dict[Digest, ManifestNode]
    platform: Platform | None  # the platform whose rows are shown; None: every platform
    exchanges: tuple[Exchange, ...] = field(repr=False)

    def reach(self, tag: str) -> dict[Digest, int]:
        """Every blob (manifests included) the tag keeps alive, with its size.

        Parameters
        ----------
        tag : str
            One of :attr:`tags`.

        Returns
        -------
        dict of Digest to int
            The tag's manifest, an index's child manifests, and every config and layer they list.

        Raises
        ------
        KeyError
            ``tag`` was not scanned.
        """
        found: dict[Digest, int] = {}
        stack = [(self.tags[tag], self.manifests[self.tags[tag]].size)]
        while stack:
            digest, size = stack.pop()
            if digest in found:
                continue
            found[digest] = size
            node = self.manifests.get(digest)
            if node is not None:
                stack.extend((blob.digest, blob.size) for blob in node.blobs)
                stack.extend((child.digest, child.size) for child in node.children)
        return found

    @cached_property
    def _users(self) -> dict[Digest, set[str]]:
        return self.users()

    def users(self) -> dict[Digest, set[str]]:
        """Each blob and the tags that reach it.

        Returns
        -------
        dict of Digest to set of str
            Per blob (manifests included) the tags whose :meth:`reach` holds it.
        """
        found: dict[Digest, set[str]] = defaultdict(set)
        for tag in self.tags:
            for digest in self.reach(tag):
                found[digest].add(tag)
        return found

    def _images(self, tag: str) -> Iterator[tuple[Platform | None, ManifestNode]]:
        """The tag's image manifests shown as rows: one, or an index's platforms (attestations left out)."""
        top = self.manifests[self.tags[tag]]
        if not top.is_index:
            yield None, top
            return
        images = [entry for entry in top.children if not entry.is_attestation and entry.digest in self.manifests]
        for entry in images:
            if self.platform is None or (entry.platform is not None and self.platform.runs(entry.platform)):
                yield entry.platform, self.manifests[entry.digest]

    def rows(self) -> list[dict[str, Any]]:
        """Per tag and platform: tag, platform, manifest, layers, compressed_size (config and layers),
        shared_bytes (of those, also used by other tags), unique_bytes (only this tag reaches; its manifest too).

        Returns
        -------
        list of dict
            In tag order; an index gives a row per platform (those :attr:`platform` runs, or all when it is
            None), attestations left out; ``platform`` is None for a single image.
        """
        users = self._users
        rows = []
        for tag in self.tags:
            for platform, node in self._images(tag):
                shared = sum(blob.size for blob in _distinct(node.blobs) if len(users[blob.digest]) > 1)
                compressed = sum(blob.size for blob in _distinct(node.blobs))
                own = [(node.digest, node.size), *((b.digest, b.size) for b in _distinct(node.blobs))]
                rows.append(
                    {
                        "tag": tag,
                        "platform": str(platform) if platform else None,
                        "manifest": str(node.digest),
                        "layers": len(node.blobs) - 1,
                        "compressed_size": compressed,
                        "shared_bytes": shared,
                        "unique_bytes": sum(size for digest, size in own if users[digest] == {tag}),
                    }
                )
        return rows

    def tag_rows(self) -> list[dict[str, Any]]:
        """Per tag: digest, kind, size_bytes (everything it reaches), unique_bytes (what deleting it alone
        frees), shared_bytes (the rest).

        Returns
        -------
        list of dict
            One row per tag in listing order; ``kind`` is ``index`` or ``image``; sizes include manifests.
        """
        users = self._users
        rows = []
        for tag, digest in self.tags.items():
            reached = self.reach(tag)
            unique = sum(size for blob, size in reached.items() if users[blob] == {tag})
            total = sum(reached.values())
            kind = "index" if self.manifests[digest].is_index else "image"
            rows.append(
                {
                    "tag": tag,
                    "digest": str(digest),
                    "kind": kind,
                    "size_bytes": total,
                    "unique_bytes": unique,
                    "shared_bytes": total - unique,
                }
            )
        return rows

    def layer_rows(self) -> list[dict[str, Any]]:
        """Per layer (configs and manifests left out): digest, size, and the tags sharing it, most shared first.

        Returns
        -------
        list of dict
            ``digest``, ``size``, ``users`` (how many tags) and ``tags`` (sorted); ties by size, largest first.
        """
        users = self._users
        layers: dict[Digest, Descriptor] = {}
        for node in self.manifests.values():
            for blob in node.blobs[1:]:
                layers.setdefault(blob.digest, blob)
        rows = [
            {"digest": str(d), "size": blob.size, "users": len(users[d]), "tags": sorted(users[d])}
            for d, blob in layers.items()
            if users[d]
        ]
        return sorted(rows, key=lambda r: (-r["users"], -r["size"], r["digest"]))

    @property
    def stored_bytes(self) -> int:
        """What the registry stores for these tags: each blob once."""
        sizes: dict[Digest, int] = {}
        for tag in self.tags:
            sizes.update(self.reach(tag))
        return sum(sizes.values())

    @property
    def total_bytes(self) -> int:
        """Every tag's size added up, as if nothing were shared."""
        return sum(sum(self.reach(tag).values()) for tag in self.tags)

    @property
    def dedup_ratio(self) -> float:
        """``total_bytes / stored_bytes``: how many times sharing stretches each stored byte (1.0: no sharing)."""
        return self.total_bytes / self.stored_bytes if self.stored_bytes else 1.0

    def totals(self) -> dict[str, Any]:
        """The repository's totals.

        Returns
        -------
        dict
            ``tags``, ``manifests``, ``stored_bytes``, ``total_bytes`` and ``dedup_ratio`` (to 4 places).
        """
        return {
            "tags": len(self.tags),
            "manifests": len(self.manifests),
            "stored_bytes": self.stored_bytes,
            "total_bytes": self.total_bytes,
            "dedup_ratio": round(self.dedup_ratio, 4),
        }

    def frame(self) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per tag and platform.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.rows())

    def tag_frame(self) -> pd.DataFrame:
        """:meth:`tag_rows` as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per tag.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.tag_rows())

    def matrix(self) -> pd.DataFrame:
        """Tags by layers: the layer's size where the tag reaches it, else 0 (layers most shared first).

        Returns
        -------
        pandas.DataFrame
            Indexed by tag; one column per layer, named by the first 12 hex digits of its digest.
        """
        import pandas as pd

        layers = self.layer_rows()
        data = {row["digest"][7:19]: [row["size"] if tag in row["tags"] else 0 for tag in self.tags] for row in layers}
        return pd.DataFrame(data, index=list(self.tags))

    @property
    def summary(self) -> str:
        """The totals in one line: the tags' sizes against what is stored, and the most shared layer."""
        totals = self.totals()
        line = (
            f"{totals['tags']} tags add up to {totals['total_bytes']} bytes; the registry stores "
            f"{totals['stored_bytes']}: each stored byte serves {self.dedup_ratio:.2f} tags' worth of size."
        )
        if layers := self.layer_rows():
            base, users = layers[0], ", ".join(layers[0]["tags"])
            line += f" The most shared layer ({base['size']} bytes) is used by {base['users']} tags: {users}."
        return line

    def collected(self, tag: str, freed: int) -> CollectionCheck:
        """What this scan said deleting ``tag`` frees, next to the bytes garbage collection ``freed`` after it.

        Parameters
        ----------
        tag : str
            The tag deleted.
        freed : int
            The bytes the registry's storage shrank by after deleting ``tag`` and collecting garbage.

        Returns
        -------
        CollectionCheck
            The tag's unique and shared bytes and ``freed``; ``agrees`` says whether they match.

        Raises
        ------
        UsageError
            ``tag`` is not one of :attr:`tags` (the hint lists them).
        """
        row = next((row for row in self.tag_rows() if row["tag"] == tag), None)
        if row is None:
            raise UsageError(f"{tag!r} is not a tag of {self.reference.name}", hint=f"one of: {', '.join(self.tags)}")
        return CollectionCheck(tag, row["unique_bytes"], row["shared_bytes"], freed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary.

        Returns
        -------
        dict
            ``repository``, the :meth:`totals`, ``rows``, ``tag_rows`` and ``layers`` (:meth:`layer_rows`).
        """
        return {
            "repository": self.reference.name,
            **self.totals(),
            "rows": self.rows(),
            "tag_rows": self.tag_rows(),
            "layers": self.layer_rows(),
        }


@dataclass(frozen=True)
class CollectionCheck(HtmlRepr):
    """A tag's unique bytes (what the scan said deleting it frees) against what garbage collection freed."""

    tag: str
    unique_bytes: int
    shared_bytes: int
    freed: int

    @property
    def agrees(self) -> bool:
        """Whether the registry freed exactly the tag's unique bytes."""
        return self.freed == self.unique_bytes

    @property
    def summary(self) -> str:
        """This run's numbers in one line, and whether they agree."""
        verdict = "exactly what" if self.agrees else "NOT what"
        return (
            f"du said deleting {self.tag} frees {self.unique_bytes} bytes and keeps {self.shared_bytes} shared ones; "
            f"the registry's garbage collection freed {self.freed} bytes: {verdict} du said."
        )


def _distinct(blobs: Iterable[Descriptor]) -> list[Descriptor]:
    """Blobs by digest, once each (an image may list one layer twice)."""
    return list({blob.digest: blob for blob in blobs}.values())


@contextmanager
def _executor(executor: Executor | None) -> Iterator[Executor]:
    if executor is not None:
        yield executor
        return
    with ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="regkit-du") as made:
        yield made


def repository_usage(
    repo: Reference | str,
    *,
    tags: str | None = None,
    all_platforms: bool = False,
    platform: Platform | str | None = None,
    executor: Executor | None = None,
    max_names: int = MAX_NAMES,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> RepositoryUsage:
    """The tags of ``repo`` (those matching the glob ``tags``) and what each costs; rows for ``platform``
    (default the host's) or, with ``all_platforms``, for every platform. ``executor`` runs the manifest work.

    Parameters
    ----------
    repo : Reference or str
        The repository; a tag or digest in it is ignored.
    tags : str, optional
        A glob (``fnmatch``) the tags scanned must match; default every tag.
    all_platforms : bool, default False
        Rows for every platform of an index, not only one.
    platform : Platform or str, optional
        The platform whose rows are shown; default the host's.
    executor : concurrent.futures.Executor, optional
        Runs the manifest requests; default a thread pool made (and shut down) for this call.
    max_names : int, default 100000
        Stop the tag list past this many names.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`Client`).

    Returns
    -------
    RepositoryUsage
        The tags, the manifests they reach and every exchange; ``frame()`` is what each tag costs.

    Raises
    ------
    ManifestError
        A manifest that cannot be used, or indexes nesting too deep.
    ListingStopped
        The tag list could not be finished; ``listed`` holds the names listed before it stopped.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, ``all_platforms`` with ``platform``, or ``client``
        together with client options.
    """
    ref = as_reference(repo)
    shown = None if all_platforms else wanted_platform(platform)
    if all_platforms and platform is not None:
        raise UsageError("give either all_platforms or platform, not both")
    with client_for(client, options) as session, _executor(executor) as pool:
        exchanges: list[Exchange] = []
        token = probe_token(session, ref, exchanges)
        listed = list_names(session, ref, TAGS, None, max_names, exchanges)
        chosen = [tag for tag in listed.names if tags is None or fnmatch.fnmatchcase(tag, tags)]
        with _Task.bound(session, ref, token) as task:
            nodes: dict[Digest, ManifestNode] = {}
            digests: dict[str, Digest] = {}
            for tag, (digest, node, made) in zip(chosen, _map(pool, task.head, chosen), strict=True):
                digests[tag] = digest
                exchanges += made
                if node is not None:
                    nodes.setdefault(digest, node)
            wanted: list[tuple[Digest, Descriptor | None]] = [(d, None) for d in dict.fromkeys(digests.values())]
            for _ in range(MAX_NESTING + 1):
                fetched = _map(pool, task.get, [item for item in dict(wanted).items() if item[0] not in nodes])
                for node, made in fetched:
                    nodes[node.digest] = node
                    exchanges += made
                wanted = [(c.digest, c) for node, _ in fetched for c in node.children if c.digest not in nodes]
                if not wanted:
                    break
            else:
                raise ManifestError(f"indexes of {ref.name} nest more than {MAX_NESTING} deep; the scan stops")
        return RepositoryUsage(ref, digests, nodes, shown, tuple(exchanges))


def _map(pool: Executor, func: Callable[[T], R], items: list[T]) -> list[R]:
    """``func`` over ``items`` on the executor, results in order (the first failure raised)."""
    return list(pool.map(func, items))


# The clients of the scans running in this process, by scan key: a task unpickled in another process (a Dask
# worker) finds none and builds its own from the settings it carries, once per scan and process.
_CLIENTS: dict[str, Client] = {}
_CLIENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Task:
    """The manifest requests of one scan as picklable calls: reference, token, and how to rebuild the client.

    In this process they use the scan's own client (one token for the repository, renewed as it expires);
    on a Dask or process-pool worker, a client built from ``settings`` (the credentials travel with them).
    """

    key: str
    ref: Reference
    token: Token
    settings: dict[str, Any]

    @classmethod
    @contextmanager
    def bound(cls, client: Client, ref: Reference, token: Token) -> Iterator[_Task]:
        """A task for ``client``'s scan of ``ref``, its client registered for the scan's life."""
        settings = {
            "endpoints": client.endpoints,
            "insecure": client.insecure,
            "auth": client.credentials,
            "timeout": client.transport.timeout,
            "docker_config": client.docker_config,
            "retry": client.retry,
            "speed_limit": client.speed_limit,
            "ca_cert": tuple(client.transport.tls.ca_cert),
        }
        task = cls(uuid.uuid4().hex, ref, token, settings)
        with _CLIENTS_LOCK:
            _CLIENTS[task.key] = client
        try:
            yield task
        finally:
            with _CLIENTS_LOCK:
                _CLIENTS.pop(task.key, None)

    @property
    def client(self) -> Client:
        """The scan's client in this process (built here, once, on a worker)."""
        with _CLIENTS_LOCK:
            if self.key not in _CLIENTS:
                _CLIENTS[self.key] = Client(**self.settings)
            return _CLIENTS[self.key]

    def head(self, tag: str) -> tuple[Digest, ManifestNode | None, tuple[Exchange, ...]]:
        """The digest ``tag`` points to, from a HEAD (from a GET, with the manifest, when the registry does not
        say), and the exchanges made."""
        fetcher = self._fetcher()
        url, meant = fetcher.client.registry_url(self.ref, f"manifests/{tag}")
        accept = {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}
        response = fetcher.send("manifest", "HEAD", url, meant, accept)
        response.close()
        if response.status != 200:
            raise error_for(response, f"manifest {self.ref.repository}:{tag}")
        claimed = response.headers.get("Docker-Content-Digest")
        if claimed:
            try:
                return Digest.parse(claimed.strip()), None, fetcher.exchanges  # checked when fetched by it
            except InvalidReference as exc:
                raise ManifestError(
                    f"Docker-Content-Digest of {tag}: {exc.message}", exchange=response.exchange
                ) from None
        node = _node(fetcher.fetch_manifest(tag, None))
        return node.digest, node, fetcher.exchanges

    def get(self, item: tuple[Digest, Descriptor | None]) -> tuple[ManifestNode, tuple[Exchange, ...]]:
        """The manifest of a digest, verified (against its index entry when it is a child), and the exchanges."""
        fetcher = self._fetcher()
        digest, entry = item
        return _node(fetcher.fetch_manifest(str(digest), digest, entry)), fetcher.exchanges

    def _fetcher(self) -> Fetcher:
        """A fetcher for one call, with the scan's token (its exchanges are the call's)."""
        return Fetcher(self.client, self.ref, token=self.token)


def _node(parsed: ImageManifest | Index) -> ManifestNode:
    """What the scan keeps of a manifest: digest, size, and what it points to."""
    if isinstance(parsed, ImageManifest):
        return ManifestNode(parsed.digest, len(parsed.raw), parsed.media_type, (parsed.config, *parsed.layers))
    return ManifestNode(parsed.digest, len(parsed.raw), parsed.media_type, (), parsed.manifests)
