"""What is attached to an image, as a tree: index → platforms → manifests → attached artifacts → payloads.

Attached artifacts are found three ways (see :mod:`regkit.oci.artifacts`): the OCI 1.1 referrers API (its
``fallback`` tag ``sha256-<hex>`` when the API answers 404), buildkit attestation entries inside the index,
and cosign's ``sha256-<hex>.sig``/``.att``/``.sbom`` tags. The walk is bounded: a digest is shown once (a
referrers index pointing at itself or back up the tree is marked, not followed), artifacts of artifacts
are followed :data:`MAX_DEPTH` levels deep, and at most :data:`MAX_NODES` nodes are made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .._repr import HtmlRepr, display_layer
from ..errors import ManifestError, NotFound
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..oci import artifacts as art
from ..oci import mediatypes as mt
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest, Index
from ..oci.paging import Pager, follow, next_link, with_query
from ..oci.platform import Platform
from ..oci.reference import Reference
from .fetcher import MAX_MANIFEST_SIZE, Fetcher

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

MAX_DEPTH = 4  # artifacts of artifacts of … of an image
MAX_NODES = 500
MAX_PAYLOADS = 5  # layers of one artifact summarised
# Statuses that say "no referrers API here" (the spec says 404; some registries answer 405 or 501).
_NO_API = (404, 405, 501)


@dataclass(frozen=True)
class TreeNode:
    """One node: ``kind`` is index, image, attestation, artifact, signature, payload or note."""

    kind: str
    label: str
    digest: Digest | None = None
    media_type: str = ""
    size: int = 0
    platform: Platform | None = None
    artifact_type: str = ""
    via: str = ""  # how it was found: index, referrers API, fallback tag, cosign tag
    summary: art.PayloadSummary | None = None
    note: str = ""
    children: tuple[TreeNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, children included."""
        return {
            "kind": self.kind,
            "label": self.label,
            "digest": str(self.digest) if self.digest else None,
            "media_type": self.media_type,
            "size": self.size,
            "platform": str(self.platform) if self.platform else None,
            "artifact_type": self.artifact_type,
            "via": self.via,
            "summary": self.summary.to_dict() if self.summary else None,
            "note": self.note,
            "children": [child.to_dict() for child in self.children],
        }


@dataclass(frozen=True)
class ImageTree(HtmlRepr):
    """An image and everything attached to it; ``text()`` draws it, ``frame()`` is one row per node.

    Attributes
    ----------
    reference : Reference
        The image asked for.
    root : TreeNode
        The image's node; attached artifacts and an index's images are its descendants.
    referrers_api : str
        What the registry's referrers API did (answered, fell back to the tag schema, not asked).
    exchanges : tuple of Exchange
        Every request made.
    """

    reference: Reference
    root: TreeNode
    referrers_api: str  # what the registry's referrers API did
    exchanges: tuple[Exchange, ...] = field(repr=False)

    def walk(self) -> Iterator[tuple[int, TreeNode]]:
        """Every node with its depth, parents before children.

        Yields
        ------
        tuple of (int, TreeNode)
            The depth (0 for the root) and the node, depth first in the tree's order.
        """
        stack = [(0, self.root)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(node.children))

    def rows(self) -> list[dict[str, Any]]:
        """One row per node: depth, kind, label, digest, media_type, artifact_type, platform, size, via, summary.

        Returns
        -------
        list of dict
            In :meth:`walk`'s order; digests and platforms as strings (None when absent), ``summary`` the
            payload's one line or else the node's note.
        """
        return [
            {
                "depth": depth,
                "kind": node.kind,
                "label": node.label,
                "digest": str(node.digest) if node.digest else None,
                "media_type": node.media_type,
                "artifact_type": node.artifact_type,
                "platform": str(node.platform) if node.platform else None,
                "size": node.size,
                "via": node.via,
                "summary": node.summary.line() if node.summary else node.note,
            }
            for depth, node in self.walk()
        ]

    def frame(self) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per node, the columns of :meth:`rows`.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.rows())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form.

        Returns
        -------
        dict
            ``reference``, ``referrers_api`` and ``tree``: the root node with its children, nested.
        """
        return {"reference": str(self.reference), "referrers_api": self.referrers_api, "tree": self.root.to_dict()}

    def text(self) -> str:
        """The tree drawn with box characters, one node a line (from the display layer).

        Returns
        -------
        str
            A first line naming the reference and what the referrers API did, then one line per node.
        """
        return str(display_layer().tree_text(self))


def image_tree(
    ref: Reference | str,
    *,
    artifact_type: str | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> ImageTree:
    """``ref`` and what is attached to it (only artifacts of ``artifact_type`` when given).

    Parameters
    ----------
    ref : Reference or str
        The image, by tag or digest.
    artifact_type : str, optional
        Only artifacts of this type are shown; default every one.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`Client`).

    Returns
    -------
    ImageTree
        The image, its referrers (and theirs), and every exchange.

    Raises
    ------
    ManifestError
        A manifest that cannot be used.
    RegistryError
        The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
        ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref = as_reference(ref)
    with client_for(client, options) as session:
        return _Walker(session, ref, artifact_type).tree()


class _Walker:
    """One walk over one repository: its token, the digests shown, the referrers API's answer so far."""

    def __init__(self, client: Client, ref: Reference, artifact_type: str | None) -> None:
        self.client, self.ref, self.artifact_type = client, ref, artifact_type
        self.fetcher = Fetcher(client, ref)
        self.fetcher.token()
        self.seen: set[Digest] = set()
        self.nodes = 0
        self.api: str = "not asked"

    def tree(self) -> ImageTree:
        top = self.fetcher.fetch_manifest(self.ref.identifier, self.ref.digest)
        self.seen.add(top.digest)
        if isinstance(top, Index):
            root = self._index(top)
        else:
            root = self._node("image", f"image {top.media_type}", top.digest, top.media_type, len(top.raw))
            root = _with(root, self._attached(top.digest, 1))
        root = _with(root, self._cosign(top.digest))
        return ImageTree(self.ref, root, self.api, self.fetcher.exchanges)

    def _node(
        self, kind: str, label: str, digest: Digest | None = None, media_type: str = "", size: int = 0, **more: Any
    ) -> TreeNode:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ManifestError(f"more than {MAX_NODES} manifests and artifacts attached to {self.ref}; the walk stops")
        return TreeNode(kind, label, digest, media_type, size, **more)

    def _index(self, index: Index) -> TreeNode:
        images = [entry for entry in index.manifests if not entry.is_attestation]
        attestations: dict[Digest | None, list[TreeNode]] = {}
        for entry in index.manifests:
            if entry.is_attestation:
                node = self._artifact(entry, "attestation", "index (buildkit attestation-manifest)", entry.digest)
                attestations.setdefault(art.referenced_digest(entry), []).append(node)
        children = []
        for entry in images:
            self.seen.add(entry.digest)
            below = [*attestations.pop(entry.digest, []), *self._attached(entry.digest, 1)]
            label = f"{entry.platform or 'no platform'}: image"
            children.append(
                self._node(
                    "image",
                    label,
                    entry.digest,
                    entry.media_type,
                    entry.size,
                    platform=entry.platform,
                    via="index",
                    children=tuple(below),
                )
            )
        strays = [node for nodes in attestations.values() for node in nodes]  # for no image of this index
        root = self._node("index", f"index, {len(images)} platforms", index.digest, index.media_type, len(index.raw))
        return _with(root, (*children, *strays, *self._attached(index.digest, 1)))

    def _attached(self, subject: Digest, depth: int) -> tuple[TreeNode, ...]:
        """The referrers of ``subject`` (API, else fallback tag), each with its payloads and its own referrers."""
        found, via = self._referrers(subject)
        nodes = []
        for referrer in found:
            if self.artifact_type and referrer.artifact_type != self.artifact_type:
                continue
            entry = referrer.descriptor
            if entry.digest in self.seen:
                nodes.append(
                    self._node(
                        "note",
                        "already shown above: the referrers index points back",
                        entry.digest,
                        entry.media_type,
                        entry.size,
                        via=via,
                    )
                )
                continue
            node = self._artifact(entry, "artifact", via, subject, referrer.artifact_type)
            if depth < MAX_DEPTH:
                node = _with(node, self._attached(entry.digest, depth + 1))
            else:
                node = replace(node, note=f"artifacts below depth {MAX_DEPTH} are not followed")
            nodes.append(node)
        return tuple(nodes)

    def _referrers(self, subject: Digest) -> tuple[list[art.Referrer], str]:
        """The referrers index of ``subject`` and where it came from."""
        if self.api != "absent (404): fallback tag used":
            found = self._referrers_api(subject)
            if found is not None:
                return found, "referrers API"
        try:
            index = self.fetcher.fetch_manifest(art.fallback_tag(subject), None)
        except NotFound:
            return [], "fallback tag"
        # GitLab answers the fallback tag with the subject itself (oras-go#1396): that is no referrers index.
        if not isinstance(index, Index) or index.digest == subject:
            return [], "fallback tag"
        return art.parse_referrers(index.raw), "fallback tag"

    def _referrers_api(self, subject: Digest) -> list[art.Referrer] | None:
        """``GET /v2/<name>/referrers/<digest>`` and its pages; None when the registry has no such API."""
        url, meant = self.client.registry_url(self.ref, f"referrers/{subject}")
        if self.artifact_type:
            url, meant = (with_query(u, artifactType=self.artifact_type) for u in (url, meant))
        pager = Pager(f"the referrers of {subject}", MAX_NODES)
        found: list[art.Referrer] = []
        accept = {"Accept": mt.OCI_INDEX}
        while True:
            pager.ask(url)
            response = self.fetcher.send("referrers", "GET", url, meant, accept)
            if response.status in _NO_API and not found:
                response.preview()
                self.api = "absent (404): fallback tag used"
                return None
            if response.status != 200:
                raise error_for(response, f"the referrers of {subject}")
            page = art.parse_referrers(response.read(MAX_MANIFEST_SIZE, "a referrers index"))
            applied = (response.headers.get("OCI-Filters-Applied") or "").replace(" ", "").split(",")
            self.api = "filtered by the registry" if "artifactType" in applied else "answered"
            link = next_link(response.headers.get("Link"))
            pager.add([str(r.descriptor.digest) for r in page], link is not None)
            found += page
            if link is None:
                return found
            url = meant = follow(link, response.raw.url or url)

    def _artifact(
        self, entry: Descriptor, kind: str, via: str, subject: Digest | None, artifact_type: str = ""
    ) -> TreeNode:
        """An artifact or attestation manifest, verified against its entry, with a summary of its payloads."""
        self.seen.add(entry.digest)
        manifest = self.fetcher.fetch_manifest(str(entry.digest), entry.digest, entry)
        if not isinstance(manifest, ImageManifest):
            return self._node(
                kind, "an index as an artifact: not walked", entry.digest, entry.media_type, entry.size, via=via
            )
        artifact = art.parse_artifact(manifest.raw)
        note = ""
        if kind == "artifact" and artifact.subject is not None and artifact.subject.digest != subject:
            note = f"its subject is {artifact.subject.digest}, not the image it is listed for"
        kind_of = artifact_type or artifact.artifact_type
        payloads = tuple(self._payload(layer) for layer in artifact.layers[:MAX_PAYLOADS])
        label = "attestation" if kind == "attestation" else f"artifact {kind_of}"
        return self._node(
            kind,
            label,
            entry.digest,
            entry.media_type,
            entry.size,
            artifact_type=kind_of,
            via=via,
            note=note,
            children=payloads,
        )

    def _payload(self, layer: Descriptor) -> TreeNode:
        """One layer of an artifact, summarised from at most MAX_PAYLOAD bytes (nothing read past that)."""
        predicate = layer.annotations.get(art.PREDICATE_TYPE, "")
        data = b""
        if layer.size <= art.MAX_PAYLOAD:
            data = self.fetcher.read_blob(layer, "payload")
        summary = art.summarize(data, layer.size, predicate)
        return self._node(
            "payload",
            summary.line(),
            layer.digest,
            layer.media_type,
            layer.size,
            summary=summary,
            artifact_type=predicate,
        )

    def _cosign(self, digest: Digest) -> tuple[TreeNode, ...]:
        """Cosign's signature, attestation and SBOM tags of ``digest``, where they exist."""
        nodes = []
        for suffix in art.COSIGN_SUFFIXES:
            tag = art.fallback_tag(digest) + suffix
            url, meant = self.client.registry_url(self.ref, f"manifests/{tag}")
            accept = {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}
            head = self.fetcher.send("referrers", "HEAD", url, meant, accept)
            head.close()
            if head.status != 200:
                continue
            manifest = self.fetcher.fetch_manifest(tag, None)
            if manifest.digest in self.seen or not isinstance(manifest, ImageManifest):
                continue
            self.seen.add(manifest.digest)
            payloads = tuple(self._payload(layer) for layer in manifest.layers[:MAX_PAYLOADS] if suffix != ".sig")
            what = {".sig": "cosign signature", ".att": "cosign attestation", ".sbom": "cosign SBOM"}[suffix]
            nodes.append(
                self._node(
                    "signature" if suffix == ".sig" else "artifact",
                    f"{what} ({len(manifest.layers)} layer{'' if len(manifest.layers) == 1 else 's'})",
                    manifest.digest,
                    manifest.media_type,
                    len(manifest.raw),
                    via=f"cosign tag {tag}",
                    children=payloads,
                )
            )
        return tuple(nodes)


def _with(node: TreeNode, children: tuple[TreeNode, ...] | list[TreeNode]) -> TreeNode:
    """``node`` with ``children`` added after its own."""
    return replace(node, children=(*node.children, *children))
